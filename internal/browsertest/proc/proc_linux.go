// Package proc keeps the browsers that tests start from outliving them:
// each browser runs in a process group of its own that one kill ends.
package proc

import (
	"os/exec"
	"syscall"
)

// OwnGroup puts cmd and its children in a process group of their own, so
// that KillGroup reaches them all, and kills cmd if the test binary dies
// first (a timed-out test must not leave a browser running).
func OwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// KillGroup kills whatever is left of the group that OwnGroup made.
func KillGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
