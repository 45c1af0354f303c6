//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes a child process (gateway, SIPp) get SIGKILL when the
// test process dies, so an interrupted `go test` leaves nothing behind.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
