//go:build !linux

package miniotest

import "os/exec"

// setParentDeathSignal does nothing where the kernel offers no parent-death signal; tb.Cleanup still
// stops MinIO when the test ends normally.
func setParentDeathSignal(*exec.Cmd) {}
