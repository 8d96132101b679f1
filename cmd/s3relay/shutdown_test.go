package main_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// batchBody is a /v1/batch body of n track events with ids prefix-0...
func batchBody(prefix string, n int) ([]byte, []string) {
	var b bytes.Buffer
	ids := make([]string, n)
	b.WriteString(`{"batch":[`)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","userId":"u","event":"E","messageId":%q}`, ids[i])
	}
	b.WriteString(`]}`)
	return b.Bytes(), ids
}

// TestSIGTERMSealsEveryCommittedEvent stops the server while clients send,
// with large batches committed during the HTTP drain, and checks without
// restarting that every stored event is in exactly one file of each
// mapping: a clean stop routes what was committed before sealing.
func TestSIGTERMSealsEveryCommittedEvent(t *testing.T) {
	var mappings []*store.Mapping
	for i := 0; i < 3; i++ {
		mappings = append(mappings, &store.Mapping{Name: fmt.Sprintf("m%d", i), Format: "jsonl", Folder: fmt.Sprintf("m%d", i),
			Trigger: `type = "track"`, BatchSize: 200, BatchMaxAgeSeconds: 3600})
	}
	p := mustPipeline(t, mappings...)
	s := startServer(t, p.DataDir)

	// Steady load keeps the router busy...
	acked := map[string]bool{}
	stopSending := sendBatches(s.URL, p.Source.WriteKey, "load", 4, 200, 0, acked)
	time.Sleep(time.Second)

	// ...and large batches are in flight when SIGTERM arrives: headers and
	// half a body sent, the rest once the server has stopped accepting
	// connections, so that they are committed during the drain.
	const held = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	heldAcked := map[string]bool{}
	release := make(chan struct{})
	u, _ := url.Parse(s.URL)
	for h := 0; h < held; h++ {
		body, ids := batchBody(fmt.Sprintf("held%d", h), 2500)
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/batch", pr)
		req.ContentLength = int64(len(body))
		req.SetBasicAuth(p.Source.WriteKey, "")
		wg.Add(2)
		go func() {
			defer wg.Done()
			pw.Write(body[:len(body)/2])
			<-release
			pw.Write(body[len(body)/2:])
			pw.Close()
		}()
		go func() {
			defer wg.Done()
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				return // not accepted before the listener closed: not acknowledged
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				for _, id := range ids {
					heldAcked[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	// Give the held requests time to be accepted: one that is not simply
	// goes unacknowledged, the check below does not depend on it.
	time.Sleep(300 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
	}
	close(release)
	wg.Wait()
	stopSending()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("server: %v\n%s", err, s.log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop:\n%s", s.log.String())
	}
	for id := range heldAcked {
		acked[id] = true
	}
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}

	// Without a restart, which would route what the stop left: read the
	// database the server left behind.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(p.DataDir, "s3relay.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]bool{}
	for _, m := range mappings {
		rows, err := db.Query(`SELECT e.message_id, count(de.delivery_id) FROM events e
			LEFT JOIN delivery_events de ON de.mapping_id = ? AND de.event_seq = e.seq
			WHERE e.source_id = ? GROUP BY e.seq`, m.ID, p.Source.ID)
		if err != nil {
			t.Fatal(err)
		}
		inNoFile := 0
		for rows.Next() {
			var id string
			var files int
			if err := rows.Scan(&id, &files); err != nil {
				t.Fatal(err)
			}
			stored[id] = true
			switch {
			case files == 0:
				inNoFile++
			case files > 1:
				t.Errorf("mapping %s: %s is in %d files", m.Name, id, files)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if inNoFile > 0 {
			t.Errorf("mapping %s: %d committed events are in no file after a clean stop", m.Name, inNoFile)
		}
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged events are not stored", missing)
	}
	t.Logf("%d events acknowledged (%d of them during the drain), %d stored", len(acked), len(heldAcked), len(stored))
}
