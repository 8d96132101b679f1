package main_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

// pipeline is a data dir set up with a source, a destination on a real MinIO
// and mappings, before any server starts on it.
type pipeline struct {
	DataDir string
	// DSN is the PostgreSQL database of a pipeline made by mustPipelineOn;
	// empty for SQLite in DataDir.
	DSN      string
	MinIO    *miniotest.Server
	Bucket   string
	Source   *store.Source
	Dest     *store.Destination
	Mappings []*store.Mapping
}

func mustPipeline(tb testing.TB, mappings ...*store.Mapping) *pipeline {
	tb.Helper()
	return mustPipelineOn(tb, "", mappings...)
}

// mustPipelineOn is mustPipeline on the PostgreSQL database dsn (with
// testKey), or in a data dir when dsn is empty.
func mustPipelineOn(tb testing.TB, dsn string, mappings ...*store.Mapping) *pipeline {
	tb.Helper()
	ctx := context.Background()
	p := &pipeline{DataDir: tb.TempDir(), DSN: dsn, MinIO: miniotest.Start(tb), Bucket: "events"}
	miniotest.IsolateAWSEnv(tb)
	p.MinIO.MustCreateBucket(tb, p.Bucket)
	var keys *store.Keys
	var err error
	if dsn != "" {
		keys, err = store.ParseKey(testKey)
	} else {
		keys, err = store.LoadKeys(p.DataDir)
	}
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(ctx, p.dsn())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.UseKeys(keys)
	p.Source = &store.Source{Name: "app"}
	if err := db.CreateSource(ctx, p.Source); err != nil {
		tb.Fatal(err)
	}
	p.Dest = &store.Destination{
		Name: "minio", Enabled: true, SourceIDs: []string{p.Source.ID},
		Config:      store.DestinationConfig{Bucket: p.Bucket, Region: p.MinIO.Region, Auth: store.AuthKeys, Endpoint: p.MinIO.Endpoint, ForcePathStyle: true},
		Credentials: store.Credentials{Key: p.MinIO.AccessKey, Secret: p.MinIO.SecretKey},
	}
	if err := db.CreateDestination(ctx, p.Dest); err != nil {
		tb.Fatal(err)
	}
	for _, m := range mappings {
		m.DestinationID, m.Enabled = p.Dest.ID, true
		if err := db.CreateMapping(ctx, m); err != nil {
			tb.Fatal(err)
		}
		p.Mappings = append(p.Mappings, m)
	}
	return p
}

// waitAllDelivered waits until no delivery of the data dir is waiting and
// at least want events of mapping m are delivered.
func (p *pipeline) waitAllDelivered(tb testing.TB, m *store.Mapping, want int, timeout time.Duration) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, p.dsn())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		delivered, waiting := 0, 0
		f := store.DeliveryFilter{MappingID: m.ID, Page: store.Page{Limit: store.MaxPageLimit}}
		for {
			ds, next, err := db.ListDeliveries(ctx, f)
			if err != nil {
				tb.Fatal(err)
			}
			for _, d := range ds {
				if d.Status == store.StatusDelivered {
					delivered += d.Events
				} else {
					waiting++
				}
			}
			if next == "" {
				break
			}
			f.Before = next
		}
		// Nothing may wait anywhere: not in files, and not in open batches
		// or unrouted (the backlog counts both).
		backlog, err := db.Backlog(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if delivered >= want && waiting == 0 && backlog == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %d events delivered, %d files waiting, backlog %d; want %d delivered", timeout, delivered, waiting, backlog, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dsn is where the pipeline's database is.
func (p *pipeline) dsn() string {
	if p.DSN != "" {
		return p.DSN
	}
	return filepath.Join(p.DataDir, "s3relay.db")
}

// env is what a server on the pipeline needs in its environment.
func (p *pipeline) env() []string {
	if p.DSN == "" {
		return nil
	}
	return []string{"S3RELAY_DATABASE_URL=" + p.DSN, "S3RELAY_KEY=" + testKey}
}

// objectIDs counts message ids over every object under prefix: jsonl lines,
// or the message_id column of csv files.
func (p *pipeline) objectIDs(tb testing.TB, prefix string) (map[string]int, int) {
	tb.Helper()
	counts := map[string]int{}
	keys := p.MinIO.MustListKeys(tb, p.Bucket, prefix)
	for _, key := range keys {
		body := p.MinIO.MustGetObject(tb, p.Bucket, key)
		if strings.HasSuffix(key, ".csv") {
			cr := csv.NewReader(bytes.NewReader(body))
			header, err := cr.Read()
			if err != nil {
				tb.Fatalf("%s: %v", key, err)
			}
			col := -1
			for i, h := range header {
				if h == "message_id" {
					col = i
				}
			}
			for {
				rec, err := cr.Read()
				if err == io.EOF {
					break
				}
				if err != nil || col < 0 {
					tb.Fatalf("%s: %v (message_id column %d)", key, err, col)
				}
				counts[rec[col]]++
			}
			continue
		}
		for _, line := range strings.Split(string(body), "\n") {
			if line == "" {
				continue
			}
			var m struct {
				MessageID string `json:"messageId"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				tb.Fatalf("%s: %v", key, err)
			}
			counts[m.MessageID]++
		}
	}
	return counts, len(keys)
}

func TestSegmentClientToS3EndToEnd(t *testing.T) {
	tracks := &store.Mapping{Name: "tracks csv", Format: "csv", Folder: "tracks", Trigger: `type = "track"`, BatchSize: 1000, BatchMaxAgeSeconds: 2,
		Columns: []store.Column{{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "user_id", Value: "$.userId"}, {Name: "properties", Value: "$.properties"}}}
	all := &store.Mapping{Name: "everything jsonl", Format: "jsonl", KeyPreset: "hive", Folder: "all", Trigger: `type = "track" or type = "identify"`, BatchSize: 1000, BatchMaxAgeSeconds: 2}
	p := mustPipeline(t, tracks, all)
	s := startServer(t, p.DataDir)

	client, err := segment.NewWithConfig(p.Source.WriteKey, segment.Config{Endpoint: s.URL, BatchSize: 250, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	for i := 0; i < n; i++ {
		var msg segment.Message = segment.Track{MessageId: fmt.Sprintf("e2e-%05d", i), UserId: fmt.Sprintf("u%d", i%100), Event: "Order Completed",
			Properties: segment.NewProperties().Set("i", i).Set("note", "comma, \"quote\"\nnewline")}
		if i%10 == 0 {
			msg = segment.Identify{MessageId: fmt.Sprintf("e2e-%05d", i), UserId: fmt.Sprintf("u%d", i%100), Traits: segment.NewTraits().SetEmail("x@example.com")}
		}
		if err := client.Enqueue(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	p.waitAllDelivered(t, tracks, n-n/10, 90*time.Second)
	p.waitAllDelivered(t, all, n, 90*time.Second)
	// The client sent n/250 batches: at most that many commits stored them.
	if c := scrapeCounter(t, http.DefaultClient, s.URL, "s3relay_event_commits_total"); c < 1 || c > n/250 {
		t.Errorf("s3relay_event_commits_total = %v after %d requests", c, n/250)
	}
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}

	trackIDs, trackFiles := p.objectIDs(t, "tracks/")
	allIDs, allFiles := p.objectIDs(t, "all/")
	if len(trackIDs) != n-n/10 || len(allIDs) != n {
		t.Errorf("distinct ids: %d in tracks (want %d), %d in all (want %d)", len(trackIDs), n-n/10, len(allIDs), n)
	}
	for _, counts := range []map[string]int{trackIDs, allIDs} {
		for id, c := range counts {
			if c != 1 {
				t.Errorf("%s appears %d times", id, c)
			}
		}
	}
	t.Logf("%d events: %d csv files of tracks, %d jsonl files of everything", n, trackFiles, allFiles)
}

// TestSIGKILLDuringSendingAndUploading kills the server at random moments
// while clients send and the engine uploads, several times; after a final
// run, every acknowledged event is in exactly one object, and no event is in
// two.
func TestSIGKILLDuringSendingAndUploading(t *testing.T) { testSIGKILL(t, "") }

// TestPostgresSIGKILLDuringSendingAndUploading is the same in PostgreSQL mode.
func TestPostgresSIGKILLDuringSendingAndUploading(t *testing.T) { testSIGKILL(t, pgtest.URL(t)) }

func testSIGKILL(t *testing.T, dsn string) {
	m := &store.Mapping{Name: "all", Format: "jsonl", Trigger: `type = "track"`, BatchSize: 300, BatchMaxAgeSeconds: 1}
	p := mustPipelineOn(t, dsn, m)
	acked := map[string]bool{}
	const rounds = 4
	for round := 0; round < rounds; round++ {
		s := startServer(t, p.DataDir, p.env()...)
		stop := sendBatches(s.URL, p.Source.WriteKey, fmt.Sprintf("k%d", round), 4, 50, 20*time.Millisecond, acked)
		// Kill at a random moment: while requests, seals and uploads are in flight.
		time.Sleep(time.Duration(700+rand.IntN(1500)) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		stop()
	}
	s := startServer(t, p.DataDir, p.env()...)
	p.waitAllDelivered(t, m, len(acked), 60*time.Second)
	s.stop(t, syscall.SIGTERM)

	ids, files := p.objectIDs(t, "")
	missing := 0
	for id := range acked {
		if ids[id] == 0 {
			missing++
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s is in %d objects", id, n)
		}
	}
	t.Logf("%d rounds: %d acknowledged events, %d in %d objects", rounds, len(acked), len(ids), files)
	if missing > 0 {
		t.Errorf("%d acknowledged events are in no object", missing)
	}
}

func TestSIGTERMWithOpenBatchesDeliversOnceAfterRestart(t *testing.T) {
	m := &store.Mapping{Name: "slow", Format: "jsonl", Trigger: `type = "track"`, BatchSize: 100000, BatchMaxAgeSeconds: 3600}
	p := mustPipeline(t, m)
	s := startServer(t, p.DataDir)
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i := 0; i < 500; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"track","userId":"u","event":"E","messageId":"t-%d"}`, i)
	}
	body.WriteString(`]}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/batch", &body)
	req.SetBasicAuth(p.Source.WriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("send: %v %v", resp, err)
	}
	resp.Body.Close()
	time.Sleep(500 * time.Millisecond) // the engine routes them into a batch that is neither full nor old
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	s = startServer(t, p.DataDir)
	p.waitAllDelivered(t, m, 500, 30*time.Second)
	s.stop(t, syscall.SIGTERM)
	ids, _ := p.objectIDs(t, "")
	if len(ids) != 500 {
		t.Errorf("%d distinct events in the bucket, want 500", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s is in %d objects", id, n)
		}
	}
}
