package delivery_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
)

// TestNewMappingIsRoutedWithoutWaitingForTheFullReload: with the full
// reload an hour away, a mapping created while the engine runs (by any
// replica: the check is in the database) still gets its events, through the
// routing version the router checks every 200ms.
func TestNewMappingIsRoutedWithoutWaitingForTheFullReload(t *testing.T) {
	r := mustRig(t)
	runEngine(t, r.engine(delivery.Config{Reload: time.Hour}))
	// Let the router make its first, empty load.
	time.Sleep(300 * time.Millisecond)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "late", BatchSize: 100, BatchMaxAgeSeconds: 1})
	r.send(t, "late", 300, "track")
	r.waitDelivered(t, m.ID, 300, 20*time.Second)
	if ids := r.jsonlIDs(t, "raw/late/"); len(ids) != 300 {
		t.Errorf("%d distinct events in the bucket, want 300", len(ids))
	}

	// A change to it is seen the same way: disabled, it routes nothing more.
	m.Enabled = false
	if err := r.DB.UpdateMapping(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	r.send(t, "after", 50, "track")
	time.Sleep(2 * time.Second)
	if ds := r.deliveries(t, m.ID); len(ds) != 3 {
		t.Errorf("%d files after the mapping was disabled, want the 3 from before", len(ds))
	}
}

// TestFilesOfOneChunkAreSealedTogetherEachOnce: a json mapping writes one
// file per event, so a chunk of 700 events fills 700 files, sealed in
// transactions of at most 256; every key is the same literal, so each
// transaction meets a key conflict and seals its files one by one, each with
// its own key. Every event ends in exactly one object.
func TestFilesOfOneChunkAreSealedTogetherEachOnce(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: store.FormatJSON, Folder: "one", KeyTemplate: "'same.json'"})
	stop := runEngine(t, r.engine(delivery.Config{}))
	r.send(t, "j", 700, "track")
	ds := r.waitDelivered(t, m.ID, 700, 60*time.Second)
	stop()
	keys := map[string]bool{}
	for _, d := range ds {
		if d.Events != 1 || keys[d.Key] || !strings.HasPrefix(d.Key, "raw/one/same") {
			t.Errorf("delivery %s: %d events, key %q (seen before: %v)", d.ID, d.Events, d.Key, keys[d.Key])
		}
		keys[d.Key] = true
	}
	seen := map[string]int{}
	for _, key := range r.MinIO.MustListKeys(t, r.Bucket, "raw/") {
		var ev struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(r.MinIO.MustGetObject(t, r.Bucket, key), &ev); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		seen[ev.MessageID]++
	}
	if len(seen) != 700 {
		t.Errorf("%d distinct events in the bucket, want 700", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s is in %d objects", id, n)
		}
	}
}
