package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// statsRig is a database with a running appender and one source.
type statsRig struct {
	DB     *store.DB
	App    *store.Appender
	Source *store.Source
}

func mustStatsRig(tb testing.TB) *statsRig {
	tb.Helper()
	db := MustOpen(tb)
	app := db.NewAppender()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	tb.Cleanup(func() { stop(); <-done })
	src := &store.Source{Name: "web"}
	if err := db.CreateSource(context.Background(), src); err != nil {
		tb.Fatal(err)
	}
	return &statsRig{DB: db, App: app, Source: src}
}

// send stores n track events received at the given time and returns their seqs.
func (r *statsRig) send(tb testing.TB, prefix string, n int, receivedAt time.Time) []int64 {
	tb.Helper()
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"type":"track","event":"Signed Up","userId":"u","messageId":"%s-%d"}`, prefix, i))
	}
	req, err := store.ParseSegment([]byte(`{"batch":[`+strings.Join(parts, ",")+`]}`), "batch", receivedAt)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.App.Append(context.Background(), r.Source.ID, receivedAt, req.Messages, nil); err != nil {
		tb.Fatal(err)
	}
	es, _, err := r.DB.ListEvents(context.Background(), store.EventFilter{Limit: n})
	if err != nil {
		tb.Fatal(err)
	}
	seqs := make([]int64, len(es))
	for i, e := range es {
		seqs[len(es)-1-i] = e.Seq
	}
	return seqs
}

func (r *statsRig) destination(tb testing.TB, name string, enabled bool) (*store.Destination, *store.Mapping) {
	tb.Helper()
	ctx := context.Background()
	d := &store.Destination{Name: name, Enabled: enabled, SourceIDs: []string{r.Source.ID},
		Config: store.DestinationConfig{Bucket: "acme-events", Region: "us-east-1", Auth: store.AuthDefault}}
	if err := r.DB.CreateDestination(ctx, d); err != nil {
		tb.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "all", Enabled: true}
	if err := r.DB.CreateMapping(ctx, m); err != nil {
		tb.Fatal(err)
	}
	return d, m
}

// seal stores a delivery of the given events and, unless status is pending,
// records one attempt that ends in status at the given time.
func (r *statsRig) seal(tb testing.TB, m *store.Mapping, seqs []int64, events int, status string, at time.Time) *store.Delivery {
	tb.Helper()
	ctx := context.Background()
	d := &store.Delivery{DestinationID: m.DestinationID, MappingID: m.ID, Key: store.NewID("key"), Events: events}
	var cursor store.Position
	if len(seqs) > 0 {
		cursor = r.DB.PositionOf(ctx, seqs[len(seqs)-1])
	}
	if err := r.DB.SealDelivery(ctx, d, seqs, cursor); err != nil {
		tb.Fatal(err)
	}
	if status == store.StatusPending {
		return d
	}
	if ok, err := r.DB.StartAttempt(ctx, d.ID, "r1", at.Add(time.Hour)); err != nil || !ok {
		tb.Fatalf("start attempt of %s: %v, %v", d.ID, ok, err)
	}
	o := store.AttemptOutcome{Status: status, Attempt: store.Attempt{N: 1, At: at.Add(-time.Second), Duration: time.Second, OK: status == store.StatusDelivered, Replica: "r1"}}
	if status == store.StatusRetrying {
		o.NextAt = at.Add(time.Minute)
	}
	if err := r.DB.FinishAttempt(ctx, d.ID, o); err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestDestinationStats(t *testing.T) {
	ctx := context.Background()
	r := mustStatsRig(t)
	live, m := r.destination(t, "live", true)
	off, _ := r.destination(t, "off", false)
	now := time.Now().UTC()
	old := r.send(t, "old", 10, now.Add(-10*time.Minute))
	recent := r.send(t, "new", 6, now.Add(-time.Minute))

	delivered := now.Add(-30 * time.Second).Truncate(time.Millisecond)
	r.seal(t, m, old[0:2], 2, store.StatusDelivered, delivered.Add(-time.Hour))
	r.seal(t, m, old[2:4], 2, store.StatusDelivered, delivered)
	r.seal(t, m, old[4:5], 1, store.StatusFailed, now)
	r.seal(t, m, old[5:6], 1, store.StatusFailed, now)
	r.seal(t, m, old[6:7], 1, store.StatusRetrying, now)
	r.seal(t, m, old[7:10], 3, store.StatusPending, now)

	stats, err := r.DB.DestinationStats(ctx, now.Add(-5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got := stats[live.ID]
	// Waiting: the two failed files (their events are not in S3), the
	// retrying file (1) and the pending one (3), plus the 6 recent events
	// the mapping has not reached.
	want := store.DestinationStats{DestinationID: live.ID, LastDeliveredAt: delivered, Waiting: 2 + 1 + 3 + int64(len(recent)), Received: 6, Failed: 2}
	if got == nil || *got != want {
		t.Errorf("live destination = %+v, want %+v", got, want)
	}
	// The 429 limit leaves failed files out, so they never hold ingestion back.
	if n, err := r.DB.Backlog(ctx); err != nil || n != 1+3+int64(len(recent)) {
		t.Errorf("Backlog() = %d, %v; want %d, without the failed files", n, err, 1+3+len(recent))
	}
	// A disabled destination waits for nothing, but its source still receives.
	wantOff := store.DestinationStats{DestinationID: off.ID, Received: 6}
	if got := stats[off.ID]; got == nil || *got != wantOff {
		t.Errorf("disabled destination = %+v, want %+v", got, wantOff)
	}

	failed, err := r.DB.FailedCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[live.ID] != 2 {
		t.Errorf("FailedCounts = %v, want %s: 2", failed, live.ID)
	}
	if n, err := r.DB.RetryFailed(ctx, live.ID); err != nil || n != 2 {
		t.Fatalf("RetryFailed = %d, %v", n, err)
	}
	stats, err = r.DB.DestinationStats(ctx, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := stats[live.ID]; got.Failed != 0 || got.Waiting != 2+1+3+6 || got.Received != 0 {
		t.Errorf("after retrying the failed files = %+v, want none failed, 12 waiting, none received in the future", got)
	}
}

func TestThroughput(t *testing.T) {
	ctx := context.Background()
	r := mustStatsRig(t)
	_, m := r.destination(t, "live", true)
	start := time.Now().UTC().Truncate(time.Hour).Add(-23 * time.Hour)
	r.seal(t, m, nil, 100, store.StatusDelivered, start.Add(-time.Minute)) // before the chart
	r.seal(t, m, nil, 10, store.StatusDelivered, start.Add(30*time.Minute))
	r.seal(t, m, nil, 5, store.StatusDelivered, start.Add(90*time.Minute))
	r.seal(t, m, nil, 7, store.StatusDelivered, start.Add(119*time.Minute))
	r.seal(t, m, nil, 50, store.StatusFailed, start.Add(90*time.Minute))
	r.seal(t, m, nil, 3, store.StatusDelivered, start.Add(23*time.Hour+time.Minute))

	pts, err := r.DB.Throughput(ctx, start, time.Hour, 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 24 {
		t.Fatalf("%d points, want 24", len(pts))
	}
	want := map[int][2]int64{0: {10, 1}, 1: {12, 2}, 23: {3, 1}}
	for i, p := range pts {
		w := want[i]
		if p.Events != w[0] || p.Files != w[1] {
			t.Errorf("hour %d: %d events in %d files, want %d in %d", i, p.Events, p.Files, w[0], w[1])
		}
		if wantStart := start.Add(time.Duration(i) * time.Hour); !p.Start.Equal(wantStart) || p.End.Sub(p.Start) != time.Hour {
			t.Errorf("hour %d spans %v..%v, want from %v", i, p.Start, p.End, wantStart)
		}
	}
	if _, err := r.DB.Throughput(ctx, start, 0, 24); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("zero step: %v, want invalid", err)
	}
}
