//go:build !linux

package proc

import "os/exec"

// OwnGroup does nothing here: process groups are a Linux matter.
func OwnGroup(*exec.Cmd) {}

// KillGroup kills cmd alone.
func KillGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
