package main_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/s3relay/s3relay/store/pgtest"
)

// binary is the s3relay command built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3relay-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3relay")
	// S3RELAY_TEST_BINARY runs the tests against a binary built beforehand,
	// for profiling it with its symbols.
	if prebuilt := os.Getenv("S3RELAY_TEST_BINARY"); prebuilt != "" {
		binary = prebuilt
	} else if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build s3relay: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is an "s3relay serve" process.
type server struct {
	cmd     *exec.Cmd
	URL     string
	DataDir string
	log     *syncBuffer
	done    chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs "s3relay serve" on a free port and waits until it answers.
func startServer(tb testing.TB, dataDir string, extraEnv ...string) *server {
	tb.Helper()
	addr := freeAddr(tb)
	s := &server{URL: "http://" + addr, DataDir: dataDir, log: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(binary, "serve", "--addr", addr, "--data-dir", dataDir)
	s.cmd.Env = append(os.Environ(), extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	tb.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server did not start: %v\n%s", err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends a signal and returns the exit code.
func (s *server) stop(tb testing.TB, sig os.Signal) int {
	tb.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tb.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		tb.Fatalf("server did not stop:\n%s", s.log.String())
		return -1
	}
}

// runCLI runs a one-off s3relay command and returns stdout, stderr and the exit code.
func runCLI(tb testing.TB, stdin string, args ...string) (string, string, int) {
	tb.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func apiGet(tb testing.TB, url, token string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, body
}

// scrapeCounter reads a counter without labels of its own from a server's
// /metrics (the replica label every metric carries aside).
func scrapeCounter(tb testing.TB, hc *http.Client, base, name string) float64 {
	tb.Helper()
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok && (rest[0] == ' ' || rest[0] == '{') {
			v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				tb.Fatalf("%s: %q: %v", base, line, err)
			}
			return v
		}
	}
	tb.Fatalf("%s/metrics has no %s", base, name)
	return 0
}

func TestFirstStartCreatesDataDirAndServesSetup(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dataDir)
	for _, name := range []string{"s3relay.db", "s3relay.key"} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Fatalf("GET / = %d %q, want 303 to /setup", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.Get(s.URL + "/setup")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Set up s3relay") {
		t.Errorf("GET /setup = %d, want the setup page", resp.StatusCode)
	}
	if !regexp.MustCompile(`setup_code=[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}`).MatchString(s.log.String()) {
		t.Errorf("the log does not show the setup code:\n%s", s.log.String())
	}
	if code := s.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0", code)
	}
}

func TestTokenCreateWhileServing(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	stdout, stderr, code := runCLI(t, "", "token", "create", "--name", "ci", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	token := strings.TrimSpace(stdout)
	if !strings.HasPrefix(token, "s3r_") || strings.Contains(token, "\n") {
		t.Fatalf("token create printed %q, want one token", stdout)
	}
	status, body := apiGet(t, s.URL+"/api/v1/sources", token)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/sources with the new token = %d %v", status, body)
	}
	if data, ok := body["data"].([]any); !ok || len(data) != 0 || body["next"] != "" {
		t.Errorf("body = %v, want an empty list", body)
	}
	for name, tok := range map[string]string{"missing": "", "unknown": "s3r_unknown", "malformed": "nope"} {
		status, body := apiGet(t, s.URL+"/api/v1/sources", tok)
		e, _ := body["error"].(map[string]any)
		if status != http.StatusUnauthorized || e["code"] != "unauthorized" || e["message"] == "" {
			t.Errorf("%s token: %d %v, want 401 with the JSON error shape", name, status, body)
		}
	}
}

func TestCLIExitCodes(t *testing.T) {
	dataDir := t.TempDir()
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"no command", "", nil, 2, "missing command"},
		{"unknown command", "", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", "", []string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{"bad addr", "", []string{"serve", "--addr", "nonsense"}, 2, "want host:port"},
		{"bad workers", "", []string{"serve", "--upload-workers", "0"}, 2, "--upload-workers"},
		{"bad retention", "", []string{"serve", "--retention", "forever"}, 2, "--retention"},
		{"bad backlog", "", []string{"serve", "--max-backlog", "-1"}, 2, "--max-backlog"},
		{"bad commit size", "", []string{"serve", "--commit-max-events", "0"}, 2, "--commit-max-events"},
		{"token without name", "", []string{"token", "create", "--data-dir", dataDir}, 2, "--name is required"},
		{"user without email", "", []string{"user", "add", "--data-dir", dataDir}, 2, "--email is required"},
		{"user short password", "short\n", []string{"user", "add", "--email", "a@example.com", "--data-dir", dataDir}, 2, "at least 8"},
		{"user no password", "", []string{"user", "add", "--email", "a@example.com", "--data-dir", dataDir}, 2, "no password"},
		{"user added", "long enough pw\n", []string{"user", "add", "--email", "a@example.com", "--data-dir", dataDir}, 0, ""},
		{"user twice", "long enough pw\n", []string{"user", "add", "--email", "a@example.com", "--data-dir", dataDir}, 1, "already exists"},
		{"unknown user command", "", []string{"user", "delete"}, 2, "unknown user command"},
		{"passwd without email", "", []string{"user", "passwd", "--data-dir", dataDir}, 2, "--email is required"},
		{"passwd short password", "short\n", []string{"user", "passwd", "--email", "a@example.com", "--data-dir", dataDir}, 2, "at least 8"},
		{"passwd unknown user", "long enough pw\n", []string{"user", "passwd", "--email", "b@example.com", "--data-dir", dataDir}, 1, "No user has the email"},
		{"passwd", "another long pw\n", []string{"user", "passwd", "--email", "A@example.com", "--data-dir", dataDir}, 0, ""},
		{"remove without email", "", []string{"user", "remove", "--data-dir", dataDir}, 2, "--email is required"},
		{"remove unknown user", "", []string{"user", "remove", "--email", "b@example.com", "--data-dir", dataDir}, 1, "No user has the email"},
		{"remove last user", "", []string{"user", "remove", "--email", "a@example.com", "--data-dir", dataDir}, 1, "last administrator"},
		{"unusable data dir", "", []string{"token", "create", "--name", "x", "--data-dir", "/proc/s3relay"}, 1, "data dir"},
		{"version", "", []string{"version"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.out != "" && !strings.Contains(stderr, tt.out) {
				t.Errorf("stderr = %q, want it to mention %q", stderr, tt.out)
			}
			if tt.code != 0 && strings.Count(strings.TrimSpace(stderr[strings.LastIndex(stderr, "s3relay:"):]), "\n") != 0 {
				t.Errorf("error message is not one line: %q", stderr)
			}
		})
	}
	stdout, _, _ := runCLI(t, "", "version")
	if !strings.HasPrefix(stdout, "s3relay ") {
		t.Errorf("version printed %q", stdout)
	}
}

func TestAdminFromEnvironment(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir, "S3RELAY_ADMIN_EMAIL=ops@example.com", "S3RELAY_ADMIN_PASSWORD=from the env")
	c := newBrowser(t, s.URL)
	if code := c.login("ops@example.com", "from the env"); code != http.StatusSeeOther {
		t.Fatalf("login with the environment's admin: status %d", code)
	}
	if strings.Contains(s.log.String(), "setup_code") {
		t.Error("a setup code was printed although an admin was created")
	}
}

func TestUserPasswdAndRemoveWhileServing(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir, "S3RELAY_ADMIN_EMAIL=ops@example.com", "S3RELAY_ADMIN_PASSWORD=from the env")
	if _, stderr, code := runCLI(t, "second password\n", "user", "add", "--email", "dev@example.com", "--data-dir", dataDir); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	dev := newBrowser(t, s.URL)
	if code := dev.login("dev@example.com", "second password"); code != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d", code)
	}
	stdout, stderr, code := runCLI(t, "changed password\n", "user", "passwd", "--email", "dev@example.com", "--data-dir", dataDir)
	if code != 0 || !strings.Contains(stdout, "dev@example.com") {
		t.Fatalf("user passwd: exit %d: %s%s", code, stdout, stderr)
	}
	if status := dev.status("/settings"); status != http.StatusSeeOther {
		t.Errorf("session after user passwd: /settings status %d, want 303 (ended)", status)
	}
	if code := newBrowser(t, s.URL).login("dev@example.com", "second password"); code != http.StatusUnauthorized {
		t.Errorf("old password: status %d, want 401", code)
	}
	if code := dev.login("dev@example.com", "changed password"); code != http.StatusSeeOther {
		t.Fatalf("new password: status %d, want 303", code)
	}
	if _, stderr, code := runCLI(t, "", "user", "remove", "--email", "dev@example.com", "--data-dir", dataDir); code != 0 {
		t.Fatalf("user remove: exit %d: %s", code, stderr)
	}
	if status := dev.status("/settings"); status != http.StatusSeeOther {
		t.Errorf("session after user remove: /settings status %d, want 303 (ended)", status)
	}
	if code := newBrowser(t, s.URL).login("dev@example.com", "changed password"); code != http.StatusUnauthorized {
		t.Errorf("removed user: status %d, want 401", code)
	}
	if _, stderr, code := runCLI(t, "", "user", "remove", "--email", "ops@example.com", "--data-dir", dataDir); code != 1 || !strings.Contains(stderr, "last administrator") {
		t.Errorf("removing the last user: exit %d %q, want 1 naming the last administrator", code, stderr)
	}
	if code := newBrowser(t, s.URL).login("ops@example.com", "from the env"); code != http.StatusSeeOther {
		t.Errorf("the last administrator cannot sign in: status %d", code)
	}
}

// status fetches a page with the browser's cookies and returns its status.
func (b *browser) status(path string) int {
	b.tb.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// browser is a cookie-keeping client that signs in through the login form.
type browser struct {
	tb   testing.TB
	base string
	c    *http.Client
}

func newBrowser(tb testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

func (b *browser) login(email, password string) int {
	b.tb.Helper()
	resp, err := b.c.Get(b.base + "/login")
	if err != nil {
		b.tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		b.tb.Fatalf("no csrf token on /login (status %d)", resp.StatusCode)
	}
	resp, err = b.c.PostForm(b.base+"/login", url.Values{"_csrf": {string(m[1])}, "email": {email}, "password": {password}})
	if err != nil {
		b.tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir, "S3RELAY_ADMIN_EMAIL=ops@example.com", "S3RELAY_ADMIN_PASSWORD=from the env")

	const n = 8 // below the sign-in rate limit
	browsers := make([]*browser, n)
	for i := range browsers {
		browsers[i] = newBrowser(t, s.URL)
	}
	tokens := make([]string, n)
	for i, b := range browsers {
		resp, err := b.c.Get(s.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tokens[i] = string(csrfRE.FindSubmatch(page)[1])
	}
	// Each request sends its headers and half of its form, then waits: the
	// server is reading the body of every one of them when SIGTERM arrives.
	var wg sync.WaitGroup
	results := make([]int, n)
	errs := make([]error, n)
	finish := make(chan struct{})
	for i := range browsers {
		form := url.Values{"_csrf": {tokens[i]}, "email": {"ops@example.com"}, "password": {"from the env"}}.Encode()
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", pr)
		req.ContentLength = int64(len(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wg.Add(2)
		go func() {
			defer wg.Done()
			pw.Write([]byte(form[:len(form)/2]))
			<-finish
			pw.Write([]byte(form[len(form)/2:]))
			pw.Close()
		}()
		go func(i int) {
			defer wg.Done()
			resp, err := browsers[i].c.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			results[i] = resp.StatusCode
		}(i)
	}
	time.Sleep(300 * time.Millisecond)
	stopped := make(chan int, 1)
	go func() { stopped <- s.stop(t, syscall.SIGTERM) }()
	// The server must keep waiting for these requests rather than exit.
	select {
	case code := <-stopped:
		t.Fatalf("server exited (code %d) with requests in flight", code)
	case <-time.After(500 * time.Millisecond):
	}
	close(finish)
	code := <-stopped
	wg.Wait()
	if code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0\n%s", code, s.log.String())
	}
	for i := range results {
		if errs[i] != nil || results[i] != http.StatusSeeOther {
			t.Errorf("request %d: status %d, err %v; want every in-flight sign-in answered 303", i, results[i], errs[i])
		}
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	var sessions int
	if err := db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&sessions); err != nil || sessions != n {
		t.Errorf("sessions = %d, %v; want %d, one per answered sign-in", sessions, err, n)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", s.log.String())
	}
	if !strings.Contains(s.log.String(), "s3relay stopped") {
		t.Errorf("no orderly stop in the log:\n%s", lastLines(s.log.String(), 5))
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
