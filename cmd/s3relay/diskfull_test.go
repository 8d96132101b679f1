package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

// mustTmpfs mounts a tmpfs of size bytes in a new directory and unmounts it
// when the test ends. It needs root, which CI has.
func mustTmpfs(tb testing.TB, size int) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		// A full disk is shown on a real file system, never skipped: run
		// the tests as root (CI does).
		tb.Fatal("this test mounts a tmpfs and needs root: run make test as root, as CI does")
	}
	dir := filepath.Join(tb.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount tmpfs: %v: %s", err, out)
		}
	})
	return dir
}

// moveDataDir copies a data dir no server runs on to dst.
func moveDataDir(tb testing.TB, src, dst string) {
	tb.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		tb.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// fill writes a file until the file system refuses with ENOSPC.
func fill(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatal(err)
			}
			break
		}
	}
	// The last bytes: what a 64 KB write could not take.
	for _, err := f.Write(chunk[:512]); err == nil; _, err = f.Write(chunk[:512]) {
	}
}

// ingest sends one batch and returns its status, Retry-After and error body.
func ingest(tb testing.TB, url, writeKey, prefix string, n int) (int, string, map[string]any, []string) {
	tb.Helper()
	body, ids := batchBody(prefix, n)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/batch", bytes.NewReader(body))
	req.SetBasicAuth(writeKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out, ids
}

func getStatus(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDiskFullAnswers503AndResumes fills the data dir's disk under a running
// server: ingestion answers 503 with Retry-After (never 500), /readyz fails,
// the dashboard shows a banner and a metric counts; once the space is freed
// everything resumes without a restart, and every acknowledged event is
// delivered exactly once.
func TestDiskFullAnswers503AndResumes(t *testing.T) {
	disk := mustTmpfs(t, 24<<20)
	m := &store.Mapping{Name: "all", Format: "jsonl", Trigger: `type = "track"`, BatchSize: 500, BatchMaxAgeSeconds: 1}
	p := mustPipeline(t, m)
	moveDataDir(t, p.DataDir, filepath.Join(disk, "data"))
	p.DataDir = filepath.Join(disk, "data")
	s := startServer(t, p.DataDir, "S3RELAY_ADMIN_EMAIL=ops@example.com", "S3RELAY_ADMIN_PASSWORD=from the env")
	b := newBrowser(t, s.URL)
	if code := b.login("ops@example.com", "from the env"); code != http.StatusSeeOther {
		t.Fatalf("sign in: status %d", code)
	}

	acked := map[string]bool{}
	ack := func(ids []string) {
		for _, id := range ids {
			acked[id] = true
		}
	}
	status, _, body, ids := ingest(t, s.URL, p.Source.WriteKey, "before", 200)
	if status != http.StatusOK {
		t.Fatalf("before the disk is full: %d %v", status, body)
	}
	ack(ids)

	fill(t, filepath.Join(disk, "filler"))
	refused := 0
	for i := 0; i < 400 && refused < 3; i++ {
		status, retryAfter, body, ids := ingest(t, s.URL, p.Source.WriteKey, fmt.Sprintf("full%d", i), 200)
		switch status {
		case http.StatusOK:
			ack(ids) // the space SQLite still had
		case http.StatusServiceUnavailable:
			refused++
			e, _ := body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if e["code"] != "unavailable" || !strings.Contains(msg, "disk is full") {
				t.Errorf("503 body = %v, want code unavailable and a message saying the disk is full", body)
			}
			if n, err := strconv.Atoi(retryAfter); err != nil || n <= 0 {
				t.Errorf("503 Retry-After = %q, want a number of seconds", retryAfter)
			}
		default:
			t.Fatalf("with the disk full: status %d %v, want 200 or 503\n%s", status, body, lastLines(s.log.String(), 10))
		}
	}
	if refused == 0 {
		t.Fatalf("400 batches were accepted on a full disk")
	}
	if status, body := getStatus(t, s.URL+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "disk full") {
		t.Errorf("/readyz with the disk full = %d %s, want 503 saying the disk is full", status, body)
	}
	_, metrics := getStatus(t, s.URL+"/metrics")
	if m := regexp.MustCompile(`(?m)^s3relay_storage_full_total(?:\{[^}]*\})? (\d+)`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
		t.Errorf("s3relay_storage_full_total = %v, want at least 1", m)
	}
	if !regexp.MustCompile(`(?m)^s3relay_storage_full(?:\{[^}]*\})? 1$`).MatchString(metrics) {
		t.Error("s3relay_storage_full is not 1 with the disk full")
	}
	for _, page := range []string{"/", "/destinations", "/deliveries"} {
		resp, err := b.c.Get(s.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		banner := doc.Find(`[data-testid="disk-full-banner"]`)
		if banner.Length() != 1 || !strings.Contains(banner.Text(), "disk is full") {
			t.Errorf("GET %s (status %d) shows no disk-full banner", page, resp.StatusCode)
		}
	}

	// The engine's own writes meet the full disk too: the batch of the
	// first events comes of age (1 s) and its seal is refused. They are not
	// lost: sealed and delivered once space is back.
	// (Should SQLite still find room for that seal, the test only waits.)
	sealRefused := regexp.MustCompile(`msg="seal batch".*disk is full`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sealRefused.MatchString(s.log.String()) {
			break
		}
	}
	// Refused, the seal is tried again at the next poll, not in a loop.
	time.Sleep(time.Second)
	seals := len(sealRefused.FindAllString(s.log.String(), -1))
	if seals > 3 {
		t.Errorf("the seal was refused %d times within a second, want it tried again at the next poll", seals)
	}

	// Space comes back: everything resumes by itself.
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, _ := getStatus(t, s.URL+"/readyz")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d 20 s after space was freed, want 200", status)
		}
	}
	for i := 0; i < 5; i++ {
		status, _, body, ids := ingest(t, s.URL, p.Source.WriteKey, fmt.Sprintf("after%d", i), 200)
		if status != http.StatusOK {
			t.Fatalf("after space was freed: %d %v", status, body)
		}
		ack(ids)
	}
	resp, err := b.c.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	if doc.Find(`[data-testid="disk-full-banner"]`).Length() != 0 {
		t.Error("the disk-full banner stays after space was freed")
	}

	p.waitAllDelivered(t, m, len(acked), 60*time.Second)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
	objects, files := p.objectIDs(t, "")
	missing := 0
	for id := range acked {
		if objects[id] == 0 {
			missing++
		}
	}
	for id, n := range objects {
		if n != 1 {
			t.Errorf("%s is in %d objects", id, n)
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged events are in no object", missing)
	}
	t.Logf("%d acknowledged events (%d refused batches, %d refused seals) in %d objects", len(acked), refused, seals, files)
	if t.Failed() {
		t.Logf("server log:\n%s", lastLines(s.log.String(), 30))
	}
}
