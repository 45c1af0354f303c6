package firefox

import (
	"os/exec"
	"syscall"
)

// ownGroup puts Firefox and its content processes in a process group of
// their own, so that killGroup reaches them all, and kills Firefox if the
// test binary dies first (a timed-out test must not leave it running).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills whatever is left of the group that ownGroup made.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
