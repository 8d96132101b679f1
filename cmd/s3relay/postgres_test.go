package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

const (
	testKey  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	otherKey = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// runEnv runs an s3relay command with env on top of ours minus any S3RELAY_KEY*,
// and returns its stderr and exit code.
func runEnv(tb testing.TB, env []string, args ...string) (string, string, int) {
	tb.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "S3RELAY_KEY") && !strings.HasPrefix(kv, "S3RELAY_DATABASE_URL") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

func TestPostgresServeWithoutKeyRefused(t *testing.T) {
	url := pgtest.URL(t)
	_, stderr, code := runEnv(t, nil, "serve", "--addr", freeAddr(t), "--database-url", url)
	if code != 2 || !strings.Contains(stderr, "S3RELAY_KEY or S3RELAY_KEY_FILE") {
		t.Errorf("serve without a key: exit %d, %q; want 2 and a message naming S3RELAY_KEY or S3RELAY_KEY_FILE", code, stderr)
	}
	_, stderr, code = runEnv(t, []string{"S3RELAY_KEY=not-a-key"}, "serve", "--addr", freeAddr(t), "--database-url", url)
	if code != 2 || !strings.Contains(stderr, "64 hex characters") {
		t.Errorf("serve with a malformed key: exit %d, %q; want 2 and what a key looks like", code, stderr)
	}
}

func TestPostgresServeWithWrongKeyRefused(t *testing.T) {
	url := pgtest.URL(t)
	s := startServer(t, t.TempDir(), "S3RELAY_DATABASE_URL="+url, "S3RELAY_KEY="+testKey)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("first server: exit %d\n%s", code, s.log.String())
	}
	_, stderr, code := runEnv(t, []string{"S3RELAY_KEY=" + otherKey}, "serve", "--addr", freeAddr(t), "--database-url", url)
	if code != 1 || !strings.Contains(stderr, "does not match the one this database was first used with") {
		t.Errorf("serve with another key: exit %d, %q; want 1 and a key mismatch", code, stderr)
	}
	// The same key in a file is the same key.
	keyFile := t.TempDir() + "/key"
	if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, t.TempDir(), "S3RELAY_DATABASE_URL="+url, "S3RELAY_KEY_FILE="+keyFile)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("server with the key file: exit %d\n%s", code, s.log.String())
	}
}

// TestPostgresTwoServersMigrateAtOnce: replicas started together on a new
// database both come up, and each migration is applied once.
func TestPostgresTwoServersMigrateAtOnce(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	servers := make([]*server, 2)
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i] = startServer(t, t.TempDir(), "S3RELAY_DATABASE_URL="+url, "S3RELAY_KEY="+testKey)
		}()
	}
	wg.Wait()
	for _, s := range servers {
		if s == nil {
			t.FailNow()
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s/readyz: got %d, want 200", s.URL, resp.StatusCode)
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../store/migrations/postgres/*.sql")
	if got, want := n, len(files); got != want {
		t.Errorf("migrations recorded: got %d, want %d", got, want)
	}
	for _, s := range servers {
		if code := s.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("exit %d\n%s", code, s.log.String())
		}
	}
}

// TestPostgresNewerSchemaRefused: a binary older than the database's schema
// refuses to start, and so do its CLI commands.
func TestPostgresNewerSchemaRefused(t *testing.T) {
	url := pgtest.URL(t)
	env := []string{"S3RELAY_KEY=" + testKey}
	if _, stderr, code := runEnv(t, env, "user", "add", "--email", "a@example.com", "--database-url", url); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	want := "migrated by a newer s3relay (migration 9999); upgrade this binary"
	for _, args := range [][]string{
		{"serve", "--addr", freeAddr(t), "--database-url", url},
		{"token", "create", "--name", "ci", "--database-url", url},
	} {
		if _, stderr, code := runEnv(t, env, args...); code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", args[0], code, stderr, want)
		}
	}
}

// TestPostgresCLI: the one-off commands work against the URL, and the server
// sees what they wrote.
func TestPostgresCLI(t *testing.T) {
	url := pgtest.URL(t)
	env := []string{"S3RELAY_DATABASE_URL=" + url}
	if _, stderr, code := runEnv(t, env, "user", "add", "--email", "a@example.com"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	token, stderr, code := runEnv(t, env, "token", "create", "--name", "ci")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runEnv(t, env, "user", "remove", "--email", "a@example.com"); code != 1 || !strings.Contains(stderr, "last administrator") {
		t.Errorf("user remove of the last user: exit %d, %q; want 1 and the last administrator kept", code, stderr)
	}
	s := startServer(t, t.TempDir(), "S3RELAY_DATABASE_URL="+url, "S3RELAY_KEY="+testKey)
	if status, body := apiGet(t, s.URL+"/api/v1/sources", strings.TrimSpace(token)); status != http.StatusOK {
		t.Errorf("GET /api/v1/sources with the CLI's token: got %d %v, want 200", status, body)
	}
	if b := newBrowser(t, s.URL); b.login("a@example.com", "correct horse battery") != http.StatusSeeOther {
		t.Errorf("sign in as the CLI's user: not redirected")
	}
}

// TestPostgresSegmentClientToS3 is the end-to-end path in PostgreSQL mode:
// an unmodified analytics-go client, one replica, MinIO; every event in
// exactly one object of each matching mapping.
func TestPostgresSegmentClientToS3(t *testing.T) {
	tracks := &store.Mapping{Name: "tracks csv", Format: "csv", Folder: "tracks", Trigger: `type = "track"`, BatchSize: 500, BatchMaxAgeSeconds: 1,
		Columns: []store.Column{{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}}}
	all := &store.Mapping{Name: "everything jsonl", Format: "jsonl", Folder: "all", Trigger: `type = "track" or type = "identify"`, BatchSize: 500, BatchMaxAgeSeconds: 1}
	p := mustPipelineOn(t, pgtest.URL(t), tracks, all)
	s := startServer(t, p.DataDir, "S3RELAY_DATABASE_URL="+p.DSN, "S3RELAY_KEY="+testKey)
	client, err := segment.NewWithConfig(p.Source.WriteKey, segment.Config{Endpoint: s.URL, BatchSize: 100, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		var msg segment.Message = segment.Track{MessageId: fmt.Sprintf("pg-%05d", i), UserId: "u", Event: "Order Completed"}
		if i%10 == 0 {
			msg = segment.Identify{MessageId: fmt.Sprintf("pg-%05d", i), UserId: "u"}
		}
		if err := client.Enqueue(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	p.waitAllDelivered(t, tracks, n-n/10, 60*time.Second)
	p.waitAllDelivered(t, all, n, 60*time.Second)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d\n%s", code, s.log.String())
	}
	for _, tt := range []struct {
		prefix string
		want   int
	}{{"tracks/", n - n/10}, {"all/", n}} {
		ids, _ := p.objectIDs(t, tt.prefix)
		twice := 0
		for _, c := range ids {
			if c != 1 {
				twice++
			}
		}
		if len(ids) != tt.want || twice != 0 {
			t.Errorf("%s: %d distinct events, %d not exactly once; want %d, 0", tt.prefix, len(ids), twice, tt.want)
		}
	}
}
