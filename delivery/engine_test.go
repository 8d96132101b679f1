package delivery_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// rig is a database, an appender, a MinIO bucket and a destination on it.
type rig struct {
	DB      *store.DB
	App     *store.Appender
	MinIO   *miniotest.Server
	Bucket  string
	Source  *store.Source
	Dest    *store.Destination
	Clients *s3.Factory
	Log     *bytes.Buffer
	Path    string // the database: a file, or a PostgreSQL URL (mustRigOn)
	KeyDir  string // where the keys are

	notify *atomic.Pointer[func()]
}

// mustRig is a rig on a new SQLite file.
func mustRig(tb testing.TB) *rig {
	tb.Helper()
	return mustRigOn(tb, "")
}

// mustRigOn is a rig on the database dsn (a PostgreSQL URL), or on a new
// SQLite file when dsn is empty.
func mustRigOn(tb testing.TB, dsn string) *rig {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	if dsn == "" {
		dsn = filepath.Join(dir, "s3relay.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys, err := store.LoadKeys(dir)
	if err != nil {
		tb.Fatal(err)
	}
	db.UseKeys(keys)
	app := db.NewAppender()
	// A test may start several engines in turn: the appender, already
	// running, wakes whichever is current.
	notify := &atomic.Pointer[func()]{}
	app.OnCommit = func() {
		if f := notify.Load(); f != nil {
			(*f)()
		}
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(actx) }()
	tb.Cleanup(func() { stop(); <-done })

	mi := miniotest.Start(tb)
	miniotest.IsolateAWSEnv(tb)
	bucket := "events"
	mi.MustCreateBucket(tb, bucket)
	src := &store.Source{Name: "web"}
	if err := db.CreateSource(ctx, src); err != nil {
		tb.Fatal(err)
	}
	dest := &store.Destination{
		Name: "minio", Enabled: true, SourceIDs: []string{src.ID},
		Config:      store.DestinationConfig{Bucket: bucket, Region: mi.Region, Auth: store.AuthKeys, Endpoint: mi.Endpoint, ForcePathStyle: true, PathPrefix: "raw/"},
		Credentials: store.Credentials{Key: mi.AccessKey, Secret: mi.SecretKey},
	}
	if err := db.CreateDestination(ctx, dest); err != nil {
		tb.Fatal(err)
	}
	return &rig{DB: db, Path: dsn, KeyDir: dir, App: app, notify: notify, MinIO: mi, Bucket: bucket, Source: src, Dest: dest, Clients: &s3.Factory{}, Log: &bytes.Buffer{}}
}

func (r *rig) mustMapping(tb testing.TB, m *store.Mapping) *store.Mapping {
	tb.Helper()
	m.DestinationID, m.Enabled = r.Dest.ID, true
	if m.Name == "" {
		m.Name = "all"
	}
	if _, err := delivery.Compile(m, r.Dest.Config); err != nil {
		tb.Fatalf("mapping does not compile: %v", err)
	}
	if err := r.DB.CreateMapping(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// send stores n track events with ids prefix-0..n-1, in batches of 100.
func (r *rig) send(tb testing.TB, prefix string, n int, typ string) {
	tb.Helper()
	for i := 0; i < n; i += 100 {
		var parts []string
		for j := i; j < min(i+100, n); j++ {
			parts = append(parts, fmt.Sprintf(`{"type":%q,"userId":"u%d","event":"Order Completed","messageId":"%s-%d","properties":{"i":%d,"note":"a, \"quoted\"\nline"}}`, typ, j%7, prefix, j, j))
		}
		req, err := store.ParseSegment([]byte(`{"batch":[`+strings.Join(parts, ",")+`]}`), "batch", time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := r.App.Append(context.Background(), r.Source.ID, time.Now(), req.Messages, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

func (r *rig) engine(cfg delivery.Config) *delivery.Engine {
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	}
	e := delivery.New(r.DB, r.Clients, slog.New(slog.NewTextHandler(r.Log, nil)), cfg)
	f := e.Notify
	r.notify.Store(&f)
	return e
}

// runEngine runs an engine until the returned stop is called.
func runEngine(tb testing.TB, e *delivery.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("engine: %v", err)
		}
	}
	tb.Cleanup(stop)
	return stop
}

// waitDelivered waits until deliveries of the mapping hold want events, all delivered.
func (r *rig) waitDelivered(tb testing.TB, mappingID string, want int, timeout time.Duration) []*store.Delivery {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := r.deliveries(tb, mappingID)
		n, pending := 0, 0
		for _, d := range ds {
			n += d.Events
			if d.Status != store.StatusDelivered {
				pending++
			}
		}
		if n == want && pending == 0 {
			return ds
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %d events in %d deliveries (%d not delivered), want %d delivered\n%s", timeout, n, len(ds), pending, want, r.Log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rig) deliveries(tb testing.TB, mappingID string) []*store.Delivery {
	tb.Helper()
	var all []*store.Delivery
	f := store.DeliveryFilter{MappingID: mappingID, Page: store.Page{Limit: store.MaxPageLimit}}
	for {
		ds, next, err := r.DB.ListDeliveries(context.Background(), f)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, ds...)
		if next == "" {
			return all
		}
		f.Before = next
	}
}

// csvMessageIDs reads every object under prefix and counts message ids in
// the column named message_id.
func (r *rig) csvMessageIDs(tb testing.TB, prefix string) map[string]int {
	tb.Helper()
	counts := map[string]int{}
	for _, key := range r.MinIO.MustListKeys(tb, r.Bucket, prefix) {
		body := r.MinIO.MustGetObject(tb, r.Bucket, key)
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
		if col < 0 {
			tb.Fatalf("%s has no message_id column: %v", key, header)
		}
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", key, err)
			}
			counts[rec[col]]++
		}
	}
	return counts
}

func TestEngineDeliversEveryEventOnce(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "csv", Folder: "tracks", Columns: []store.Column{
		{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "properties", Value: "$.properties"},
	}, BatchSize: 250, BatchMaxAgeSeconds: 1})
	stop := runEngine(t, r.engine(delivery.Config{}))
	r.send(t, "a", 1000, "track")
	r.send(t, "b", 10, "page") // not accepted by the default trigger
	ds := r.waitDelivered(t, m.ID, 1000, 30*time.Second)
	stop()
	if len(ds) != 4 {
		t.Errorf("%d files, want 4 of 250 events", len(ds))
	}
	ids := r.csvMessageIDs(t, "raw/tracks/")
	if len(ids) != 1000 {
		t.Errorf("%d distinct message ids in the bucket, want 1000", len(ids))
	}
	for id, n := range ids {
		if n != 1 || !strings.HasPrefix(id, "a-") {
			t.Errorf("message %s appears %d times", id, n)
		}
	}
	for _, d := range ds {
		if !strings.HasPrefix(d.Key, "raw/tracks/") || d.Attempts != 1 || d.Bytes == 0 || d.ContentType != "text/csv" {
			t.Errorf("delivery %+v", d)
		}
	}
}

func TestEngineSealsPartialBatchesByAgeAndSplitsTypes(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Trigger: `type = "track" or type = "page"`, BatchSize: 1000, BatchMaxAgeSeconds: 1})
	runEngine(t, r.engine(delivery.Config{}))
	start := time.Now()
	r.send(t, "t", 5, "track")
	r.send(t, "p", 3, "page")
	ds := r.waitDelivered(t, m.ID, 8, 15*time.Second)
	if time.Since(start) > 5*time.Second {
		t.Errorf("a 1-second batch took %v to arrive", time.Since(start))
	}
	parts := map[string]int{}
	for _, d := range ds {
		parts[d.Partition] += d.Events
	}
	if parts["type=track"] != 5 || parts["type=page"] != 3 {
		t.Errorf("files by partition = %v, want tracks and pages in separate files", parts)
	}
}

// jsonlIDs reads every jsonl object under prefix and counts message ids.
func (r *rig) jsonlIDs(tb testing.TB, prefix string) map[string]int {
	tb.Helper()
	counts := map[string]int{}
	for _, key := range r.MinIO.MustListKeys(tb, r.Bucket, prefix) {
		for _, line := range strings.Split(string(r.MinIO.MustGetObject(tb, r.Bucket, key)), "\n") {
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
	for id, n := range counts {
		if n != 1 {
			tb.Errorf("message %s is in %d objects", id, n)
		}
	}
	return counts
}

func TestEngineMetrics(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 1})
	e := r.engine(delivery.Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collectors()...)
	r.send(t, "m", 10, "track")
	if got := gather(t, reg, "s3relay_backlog_events"); got != 10 {
		t.Errorf("backlog before the engine runs = %v, want 10", got)
	}
	runEngine(t, e)
	r.waitDelivered(t, m.ID, 10, 15*time.Second)
	for name, want := range map[string]float64{"s3relay_backlog_events": 0, "s3relay_delivery_attempts_total": 1, "s3relay_deliveries_sealed_total": 1} {
		if got := gather(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gather sums a metric's samples.
func gather(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			}
		}
	}
	return sum
}
