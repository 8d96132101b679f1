package main_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// routerHolder returns who holds the router lease, "" when nobody.
func routerHolder(tb testing.TB, db *store.DB) string {
	tb.Helper()
	h, _, err := db.LeaseHolder(context.Background(), store.RouterLease)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func waitHolder(tb testing.TB, db *store.DB, what string, cond func(string) bool) string {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := routerHolder(tb, db)
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			tb.Fatalf("router lease holder = %q: %s", h, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A replica's id names it in the metrics and the leases; a SIGKILLed server
// restarted on its data dir takes its predecessor's leases at once, not
// after their expiry.
func TestReplicaIDAndRestartAfterSIGKILLTakesItsLeases(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dataDir, "S3RELAY_REPLICA_ID=node-1")
	db, err := store.OpenMigrated(context.Background(), filepath.Join(dataDir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitHolder(t, db, "want node-1", func(h string) bool { return h == "node-1" })
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `s3relay_backlog_events{replica="node-1"}`) {
		t.Errorf("/metrics does not label the engine's metrics with the replica:\n%s", body)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done

	// The dead server's lease would hold for a day: only its successor's
	// knowing it is dead frees it.
	if ok, err := db.AcquireLease(context.Background(), store.RouterLease, "node-1", 24*time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	startServer(t, dataDir)
	next := waitHolder(t, db, "want the restarted server", func(h string) bool { return h != "node-1" && h != "" })
	b, err := os.ReadFile(filepath.Join(dataDir, "replica-id"))
	if err != nil || strings.TrimSpace(string(b)) != next {
		t.Errorf("replica-id file = %q (%v), want the running server's %q", b, err, next)
	}
}
