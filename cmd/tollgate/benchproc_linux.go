package main

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill the bench's redis-server if tollgate dies without
// cleaning up, so that none is left running.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
