package main_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runServeOnce runs "s3relay serve", which is expected to exit by itself,
// and returns its output and exit code; it fails the test if it keeps
// running.
func runServeOnce(tb testing.TB, addr, dataDir string) (string, int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--addr", addr, "--data-dir", dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		tb.Fatalf("serve kept running; want it to exit:\n%s", out.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return out.String(), 0
}

func TestSecondServerOnSameDataDirExits(t *testing.T) {
	dataDir := t.TempDir()
	first := startServer(t, dataDir)
	pid := strconv.Itoa(first.cmd.Process.Pid)

	out, code := runServeOnce(t, freeAddr(t), dataDir)
	if code != 1 {
		t.Errorf("second serve: exit %d, want 1\n%s", code, out)
	}
	msg := strings.TrimSpace(out)
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "s3relay: ") {
		t.Errorf("second serve printed %q, want one line", out)
	}
	if !strings.Contains(msg, "pid "+pid) || !strings.Contains(msg, dataDir) {
		t.Errorf("second serve printed %q, want it to name the first server (pid %s) and the data dir %s", msg, pid, dataDir)
	}
	if strings.Contains(out, "setup_code") {
		t.Errorf("second serve printed a setup code: %s", out)
	}

	// The first one serves on, and one-off commands work beside it.
	stdout, stderr, code := runCLI(t, "", "token", "create", "--name", "beside", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("token create beside the server: exit %d: %s", code, stderr)
	}
	if status, body := apiGet(t, first.URL+"/api/v1/sources", strings.TrimSpace(stdout)); status != http.StatusOK {
		t.Errorf("GET /api/v1/sources on the first server = %d %v, want 200", status, body)
	}
	if _, stderr, code := runCLI(t, "long enough pw\n", "user", "add", "--email", "beside@example.com", "--data-dir", dataDir); code != 0 {
		t.Errorf("user add beside the server: exit %d: %s", code, stderr)
	}
	if code := first.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("first server: exit %d after SIGTERM, want 0\n%s", code, first.log.String())
	}

	// Once it stopped, the data dir is free again.
	again := startServer(t, dataDir)
	if code := again.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("restart after the first stopped: exit %d\n%s", code, again.log.String())
	}
}

func TestPortInUseExitsWithoutSetupCode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, code := runServeOnce(t, ln.Addr().String(), t.TempDir())
	if code != 1 {
		t.Errorf("serve on a port in use: exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "listen") || !strings.Contains(out, "address already in use") {
		t.Errorf("serve on a port in use printed %q, want the listen error", out)
	}
	if strings.Contains(out, "setup_code") {
		t.Errorf("serve on a port in use printed a setup code that would lead nowhere:\n%s", out)
	}
}
