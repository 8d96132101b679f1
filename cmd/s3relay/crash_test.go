package main_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// mustSourceIn creates a source in a data dir while no server runs on it.
func mustSourceIn(tb testing.TB, dataDir string) *store.Source {
	tb.Helper()
	ctx := context.Background()
	if _, err := store.LoadKeys(dataDir); err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(dataDir, "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	src := &store.Source{Name: "crash"}
	if err := db.CreateSource(ctx, src); err != nil {
		tb.Fatal(err)
	}
	return src
}

// sendBatches starts clients that send batches of size track events to
// /v1/batch, pausing up to pause between batches, until the returned stop is
// called or the server goes away. Ids of batches answered 200 go into acked.
func sendBatches(url, writeKey, prefix string, clients, size int, pause time.Duration, acked map[string]bool) (stop func()) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := make(chan struct{})
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			hc := &http.Client{Timeout: 5 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				ids := make([]string, size)
				var body bytes.Buffer
				body.WriteString(`{"batch":[`)
				for i := range ids {
					ids[i] = fmt.Sprintf("%s-c%d-n%d-%d", prefix, c, n, i)
					if i > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"type":"track","userId":"u","event":"E","messageId":%q}`, ids[i])
				}
				body.WriteString(`]}`)
				req, _ := http.NewRequest(http.MethodPost, url+"/v1/batch", &body)
				req.SetBasicAuth(writeKey, "")
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
				if pause > 0 {
					time.Sleep(time.Duration(rand.Int64N(int64(pause))))
				}
			}
		}(c)
	}
	return func() { close(done); wg.Wait() }
}

// TestSIGKILLLosesNoAcknowledgedEvent kills the server while clients send
// batches, several times over, and checks that every message answered 200
// is stored, once.
func TestSIGKILLLosesNoAcknowledgedEvent(t *testing.T) {
	dataDir := t.TempDir()
	src := mustSourceIn(t, dataDir)
	acked := map[string]bool{}
	const rounds = 3
	for round := 0; round < rounds; round++ {
		s := startServer(t, dataDir)
		stop := sendBatches(s.URL, src.WriteKey, fmt.Sprintf("r%d", round), 6, 50, 0, acked)
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		stop()
	}
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged before the kills")
	}

	// Open the data dir as the next start would, and count.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]int{}
	var before int64
	for {
		events, next, err := db.ListEvents(ctx, store.EventFilter{SourceID: src.ID, Limit: store.MaxPageLimit, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			stored[e.ID]++
		}
		if next == "" {
			break
		}
		before, _ = store.ParseEventCursor("before", next)
	}
	missing := 0
	for id := range acked {
		if stored[id] == 0 {
			missing++
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	t.Logf("%d rounds: %d messages acknowledged, %d stored (unacknowledged ones may be stored too)", rounds, len(acked), len(stored))
	if missing > 0 {
		t.Errorf("%d acknowledged messages are missing after SIGKILL", missing)
	}
}
