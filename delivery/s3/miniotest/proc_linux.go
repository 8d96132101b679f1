package miniotest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill MinIO when the test binary dies without running its cleanups
// (a panic or `go test -timeout`), so no server outlives its test.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
