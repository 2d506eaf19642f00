//go:build !linux

package redistest

import "os/exec"

// setParentDeathSignal has no portable equivalent outside Linux; t.Cleanup stops the server.
func setParentDeathSignal(*exec.Cmd) {}
