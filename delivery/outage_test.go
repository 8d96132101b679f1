package delivery_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
)

// clock is a manual clock for the engine and the database: time moves only
// when the test says, so retry windows and backoffs are decided by the test,
// not by how fast the machine runs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withClock puts the rig's database on c; engines get it through cfg.Now.
func (r *rig) withClock(c *clock) { r.DB.Now = c.Now }

// waitDelivery waits until the delivery satisfies cond and returns it.
func (r *rig) waitDelivery(tb testing.TB, mappingID string, what string, cond func(*store.Delivery) bool) *store.Delivery {
	tb.Helper()
	var found *store.Delivery
	deadline := time.Now().Add(30 * time.Second)
	for found == nil {
		for _, d := range r.deliveries(tb, mappingID) {
			if cond(d) {
				found = d
			}
		}
		if found == nil {
			if time.Now().After(deadline) {
				tb.Fatalf("no delivery %s within 30s: %+v\n%s", what, r.deliveries(tb, mappingID), r.Log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return found
}

func (r *rig) destination(tb testing.TB) *store.Destination {
	tb.Helper()
	d, err := r.DB.DestinationByID(context.Background(), r.Dest.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestOutageLongerThanAttemptBudgetRetriesForTheWindow keeps S3 down for
// more attempts than the old budget of 12: the delivery keeps retrying while
// its retry window lasts, then fails with the reason, and the destination
// shows it.
func TestOutageLongerThanAttemptBudgetRetriesForTheWindow(t *testing.T) {
	r := mustRig(t)
	proxy := r.viaProxy(t)
	clk := newClock()
	r.withClock(clk)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 3600})
	proxy.SlowDown()
	e := r.engine(delivery.Config{Now: clk.Now, RetryFor: time.Hour, BackoffBase: time.Second, BackoffMax: 5 * time.Minute})
	runEngine(t, e)
	r.send(t, "w", 10, "track")
	// Each round: the attempt fails, the delivery waits for a time the
	// clock has not reached; the clock moves past it and the next one runs.
	const rounds = 20
	for n := 1; n <= rounds; n++ {
		d := r.waitDelivery(t, m.ID, "retrying", func(d *store.Delivery) bool { return d.Attempts == n && d.Status != store.StatusUploading })
		if d.Status != store.StatusRetrying {
			t.Fatalf("after %d failed attempts (%v into the outage) the delivery is %s (%s), want retrying within the 1h window",
				n, clk.Now().Sub(d.CreatedAt), d.Status, d.LastError)
		}
		if wait := d.NextAttemptAt.Sub(clk.Now()); wait <= 0 || wait > 10*time.Second {
			t.Fatalf("attempt %d: next attempt in %v, want within the 10s probe", n, wait)
		}
		clk.Advance(2 * time.Minute)
		e.Wake()
	}
	// 20 attempts over 40 minutes; the window ends 1h after the first failure.
	d := r.waitDelivery(t, m.ID, "retrying", func(d *store.Delivery) bool { return d.Attempts == rounds+1 && d.Status != store.StatusUploading })
	if d.Status != store.StatusRetrying {
		t.Fatalf("delivery %s after %d attempts inside the window, want retrying", d.Status, d.Attempts)
	}
	clk.Advance(21 * time.Minute)
	e.Wake()
	d = r.waitDelivery(t, m.ID, "failed", func(d *store.Delivery) bool { return d.Status == store.StatusFailed })
	if d.Attempts != rounds+2 || d.LastErrorCode != "SlowDown" || !strings.Contains(d.LastError, "Gave up after retrying for 1h0m0s") {
		t.Errorf("failed after %d attempts with %q %q, want %d attempts, SlowDown, gave up after 1h", d.Attempts, d.LastErrorCode, d.LastError, rounds+2)
	}
	dest := r.destination(t)
	if dest.Health != store.HealthUnhealthy || dest.HealthCode != "SlowDown" || !strings.Contains(dest.HealthMessage, "Gave up") {
		t.Errorf("destination health %q %q %q, want unhealthy with the reason", dest.Health, dest.HealthCode, dest.HealthMessage)
	}
	stats, err := r.DB.DestinationStats(context.Background(), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st := stats[r.Dest.ID]; st.Failed != 1 || st.Waiting != 10 {
		t.Errorf("dashboard figures: %d failed, backlog %d; want 1 failed file and its 10 events in the backlog", st.Failed, st.Waiting)
	}
}

// TestSuccessWakesRetryingDeliveries fails two files during an outage, with
// backoffs far in the future; once S3 is back, the success of a new file
// sends them at once, though the clock never reaches their next attempt.
// Health turns retrying on the first failure and healthy on the success.
func TestSuccessWakesRetryingDeliveries(t *testing.T) {
	r := mustRig(t)
	proxy := r.viaProxy(t)
	clk := newClock()
	r.withClock(clk)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 3600})
	proxy.SlowDown()
	// Backoff and probe are an hour: without a wake nothing is due again.
	e := r.engine(delivery.Config{Now: clk.Now, BackoffBase: time.Hour, BackoffMax: time.Hour, Probe: time.Hour, PerDestination: 1})
	runEngine(t, e)
	r.send(t, "a", 10, "track")
	first := r.waitDelivery(t, m.ID, "failed once", func(d *store.Delivery) bool { return d.Status == store.StatusRetrying })
	dest := r.destination(t)
	if dest.Health != store.HealthRetrying || dest.HealthCode != "SlowDown" || dest.HealthFailures != 1 || dest.HealthMessage == "" {
		t.Errorf("after the first failed attempt health is %q code %q failures %d message %q, want retrying, SlowDown, 1, the message",
			dest.Health, dest.HealthCode, dest.HealthFailures, dest.HealthMessage)
	}
	r.send(t, "b", 10, "track")
	r.waitDelivery(t, m.ID, "failed once", func(d *store.Delivery) bool { return d.ID != first.ID && d.Status == store.StatusRetrying })
	var waiting []*store.Delivery
	for _, d := range r.deliveries(t, m.ID) {
		if d.Status != store.StatusRetrying || !d.NextAttemptAt.After(clk.Now().Add(29*time.Minute)) {
			t.Fatalf("delivery %s is %s, next attempt at %v; want retrying, not before the hour's backoff", d.ID, d.Status, d.NextAttemptAt)
		}
		waiting = append(waiting, d)
	}
	if got := r.destination(t).HealthFailures; got != 2 {
		t.Errorf("health counts %d failed attempts, want 2", got)
	}

	proxy.Pass()
	r.send(t, "c", 10, "track")
	r.waitDelivered(t, m.ID, 30, 30*time.Second)
	for _, w := range waiting {
		d, attempts, err := r.DB.DeliveryByID(context.Background(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(attempts) != 2 || attempts[1].At.After(clk.Now()) || !attempts[1].At.Before(w.NextAttemptAt) {
			t.Errorf("delivery %s: attempts %+v; want a second one at %v, before its backoff ended at %v", d.ID, attempts, clk.Now(), w.NextAttemptAt)
		}
	}
	dest = r.destination(t)
	if dest.Health != store.HealthHealthy || dest.HealthCode != "" || dest.HealthFailures != 0 {
		t.Errorf("after a success health is %q code %q failures %d, want healthy, no code, 0", dest.Health, dest.HealthCode, dest.HealthFailures)
	}
	if n := len(r.jsonlIDs(t, "raw/")); n != 30 {
		t.Errorf("%d distinct events in the bucket, want 30", n)
	}
}

// TestHungS3AttemptTimesOutAndFreesItsSlot puts S3 behind a front that
// accepts requests and never answers: each attempt ends at its deadline,
// sized to its bytes, and gives its slot to the next file.
func TestHungS3AttemptTimesOutAndFreesItsSlot(t *testing.T) {
	r := mustRig(t)
	proxy := r.viaProxy(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 3600})
	proxy.Hang()
	base, throughput := 300*time.Millisecond, int64(10000)
	// One slot for the destination: the second file goes only once the
	// first attempt let go of it.
	e := r.engine(delivery.Config{Workers: 1, PerDestination: 1, AttemptTimeout: base, MinThroughput: throughput,
		BackoffBase: time.Hour, BackoffMax: time.Hour, Probe: time.Hour})
	runEngine(t, e)
	r.send(t, "h", 20, "track")
	waitFor(t, 30*time.Second, func() bool {
		n := 0
		for _, d := range r.deliveries(t, m.ID) {
			if d.Status == store.StatusRetrying {
				n++
			}
		}
		return n == 2
	})
	for _, d := range r.deliveries(t, m.ID) {
		_, attempts, err := r.DB.DeliveryByID(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		a := attempts[0]
		limit := base + time.Duration(float64(d.Bytes)/float64(throughput)*float64(time.Second))
		if a.OK || a.Code != delivery.CodeAttemptTimeout || a.Duration < limit.Truncate(time.Millisecond)-time.Millisecond || a.Duration > limit+10*time.Second {
			t.Errorf("attempt of %d bytes: %+v; want %s after about %v", d.Bytes, a, delivery.CodeAttemptTimeout, limit)
		}
		if d.Bytes == 0 {
			t.Errorf("delivery %s records no size", d.ID)
		}
	}
	dest := r.destination(t)
	if dest.Health != store.HealthRetrying || dest.HealthCode != delivery.CodeAttemptTimeout || dest.HealthFailures != 2 {
		t.Errorf("health %q code %q failures %d, want retrying, %s, 2", dest.Health, dest.HealthCode, dest.HealthFailures, delivery.CodeAttemptTimeout)
	}
	// Each attempt gave up its request: the hung S3 holds none.
	waitFor(t, 10*time.Second, func() bool { return proxy.Hanging() == 0 })
}
