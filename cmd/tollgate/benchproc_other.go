//go:build !linux

package main

import "os/exec"

// killWithParent has no portable equivalent outside Linux; the bench kills its redis-server
// when it ends normally.
func killWithParent(*exec.Cmd) {}
