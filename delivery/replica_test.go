package delivery_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// offsetClock is the real time plus an offset a test moves: a replica whose
// clock jumps ahead sees the others' leases expire.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset).Truncate(time.Millisecond)
}

func (c *offsetClock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// syncBuffer is a log two engines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// replica is an engine on its own handle of the rig's database file, as a
// second process would open it.
type replica struct {
	DB     *store.DB
	Engine *delivery.Engine
	Clock  *offsetClock
	Reg    *prometheus.Registry
	Log    *syncBuffer
}

func (r *rig) replica(tb testing.TB, cfg delivery.Config) *replica {
	tb.Helper()
	db, err := store.Open(context.Background(), r.Path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys, err := store.LoadKeys(r.KeyDir)
	if err != nil {
		tb.Fatal(err)
	}
	db.UseKeys(keys)
	clock := &offsetClock{}
	db.Now = clock.Now
	cfg.Now = clock.Now
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.LeaseRenew == 0 {
		cfg.LeaseRenew = 20 * time.Millisecond
	}
	if cfg.RecoverEvery == 0 {
		cfg.RecoverEvery = 20 * time.Millisecond
	}
	cfg.BackoffBase, cfg.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	log := &syncBuffer{}
	e := delivery.New(db, &s3.Factory{}, slog.New(slog.NewTextHandler(log, nil)), cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collectors()...)
	return &replica{DB: db, Engine: e, Clock: clock, Reg: reg, Log: log}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) leaseHolder(tb testing.TB) string {
	tb.Helper()
	h, _, err := r.DB.LeaseHolder(context.Background(), store.RouterLease)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestOneRouterAtATimeAndTakeoverWhenItsHolderDies(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "one", BatchSize: 10, BatchMaxAgeSeconds: 1})
	a := r.replica(t, delivery.Config{Replica: "a"})
	runEngine(t, a.Engine)
	waitUntil(t, "a takes the free router lease", 10*time.Second, func() bool { return r.leaseHolder(t) == "a" })
	b := r.replica(t, delivery.Config{Replica: "b"})
	runEngine(t, b.Engine)

	r.send(t, "x", 100, "track")
	r.waitDelivered(t, m.ID, 100, 30*time.Second)
	if got := gather(t, a.Reg, "s3relay_deliveries_sealed_total"); got != 10 {
		t.Errorf("a sealed %v files, want all 10", got)
	}
	if got := gather(t, b.Reg, "s3relay_engine_events_routed_total"); got != 0 {
		t.Errorf("b, not holding the lease, routed %v events", got)
	}
	if h := r.leaseHolder(t); h != "a" {
		t.Errorf("lease holder = %q while a renews, want a", h)
	}

	// a dies: cut from the database, it neither renews nor releases. Once
	// its lease has expired on b's clock, b routes.
	a.DB.Close()
	b.Clock.Add(7 * time.Second)
	waitUntil(t, "b takes the expired lease", 10*time.Second, func() bool { return r.leaseHolder(t) == "b" })
	r.send(t, "y", 100, "track")
	r.waitDelivered(t, m.ID, 200, 30*time.Second)
	if got := gather(t, b.Reg, "s3relay_deliveries_sealed_total"); got != 10 {
		t.Errorf("b sealed %v files after the takeover, want 10", got)
	}
	ids := r.jsonlIDs(t, "raw/one/")
	if len(ids) != 200 {
		t.Errorf("%d distinct events in the bucket, want 200", len(ids))
	}
}

func TestStaleRouterCannotSealAfterTakeover(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "stale", BatchSize: 1000, BatchMaxAgeSeconds: 3600})
	// a never renews: it keeps believing it leads, as a paused process
	// would, and its open batch holds the events.
	a := r.replica(t, delivery.Config{Replica: "a", LeaseRenew: time.Hour})
	stopA := runEngine(t, a.Engine)
	waitUntil(t, "a takes the router lease", 10*time.Second, func() bool { return r.leaseHolder(t) == "a" })
	r.send(t, "s", 50, "track")
	waitUntil(t, "a routes the events", 10*time.Second, func() bool { return gather(t, a.Reg, "s3relay_engine_events_routed_total") == 50 })

	b := r.replica(t, delivery.Config{Replica: "b"})
	b.Clock.Add(7 * time.Second) // past a's lease
	stopB := runEngine(t, b.Engine)
	waitUntil(t, "b takes the expired lease", 10*time.Second, func() bool { return r.leaseHolder(t) == "b" })
	waitUntil(t, "b routes the events", 10*time.Second, func() bool { return gather(t, b.Reg, "s3relay_engine_events_routed_total") == 50 })

	// a stops: it seals its open batch on the way out, and the fence refuses it.
	stopA()
	if n := len(r.deliveries(t, m.ID)); n != 0 {
		t.Fatalf("%d files sealed by the stale router, want none", n)
	}
	if !strings.Contains(a.Log.String(), "no longer holds the router lease") {
		t.Errorf("a's log does not tell its seal was refused:\n%s", a.Log.String())
	}
	stopB()
	ds := r.deliveries(t, m.ID)
	if len(ds) != 1 || ds[0].Events != 50 {
		t.Fatalf("%d files, want the new holder's one of 50 events", len(ds))
	}
}

// attemptsOf returns a delivery's attempt log.
func attemptsOf(tb testing.TB, db *store.DB, id string) []store.Attempt {
	tb.Helper()
	_, as, err := db.DeliveryByID(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

// checkNoOverlap fails when two attempts of a delivery by different
// replicas overlap in time.
func checkNoOverlap(tb testing.TB, id string, as []store.Attempt) {
	tb.Helper()
	for i := 1; i < len(as); i++ {
		prev, cur := as[i-1], as[i]
		if prev.Replica != cur.Replica && prev.At.Add(prev.Duration).After(cur.At) {
			tb.Errorf("delivery %s: attempt %d by %s (%v + %v) overlaps attempt %d by %s at %v", id, prev.N, prev.Replica, prev.At, prev.Duration,
				cur.N, cur.Replica, cur.At)
		}
	}
}

func TestUploadsSpreadOverReplicasAndEachFileOnce(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "spread", BatchSize: 5, BatchMaxAgeSeconds: 1})
	a := r.replica(t, delivery.Config{Replica: "a", Workers: 2, PerDestination: 2})
	b := r.replica(t, delivery.Config{Replica: "b", Workers: 2, PerDestination: 2})
	runEngine(t, a.Engine)
	runEngine(t, b.Engine)
	r.send(t, "u", 1500, "track")
	ds := r.waitDelivered(t, m.ID, 1500, 60*time.Second)
	by := map[string]int{}
	for _, d := range ds {
		as := attemptsOf(t, r.DB, d.ID)
		if d.Attempts != 1 || len(as) != 1 || !as[0].OK {
			t.Errorf("delivery %s: %d attempts %+v, want one successful", d.ID, d.Attempts, as)
			continue
		}
		by[as[0].Replica]++
		checkNoOverlap(t, d.ID, as)
	}
	if len(by) != 2 || by["a"] == 0 || by["b"] == 0 {
		t.Errorf("uploads by replica = %v, want both a and b", by)
	}
	ids := r.jsonlIDs(t, "raw/spread/")
	if len(ids) != 1500 {
		t.Errorf("%d distinct events in the bucket, want 1500", len(ids))
	}
	if got := gather(t, a.Reg, "s3relay_delivery_attempts_total") + gather(t, b.Reg, "s3relay_delivery_attempts_total"); got != float64(len(ds)) {
		t.Errorf("attempts counted by the replicas = %v, want %d", got, len(ds))
	}
}

func TestExpiredUploadLeaseIsResumedByAnotherReplica(t *testing.T) {
	r := mustRig(t)
	ctx := context.Background()
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "resume", BatchSize: 1000, BatchMaxAgeSeconds: 3600})
	r.send(t, "r", 3, "track")
	evs, err := r.DB.EventsAfter(ctx, store.Position{}, 10, false)
	if err != nil || len(evs) != 3 {
		t.Fatal(len(evs), err)
	}
	// Three files sealed and claimed: by a replica that died (its lease
	// expires in a second), by one alive (its lease runs an hour), by this
	// process's earlier incarnation (alive lease, but that process is dead).
	holders := []string{"dead", "alive", "me-before"}
	ids := make([]string, 3)
	for i, ev := range evs {
		d := &store.Delivery{DestinationID: r.Dest.ID, MappingID: m.ID, Key: "raw/resume/" + holders[i] + ".jsonl", Events: 1}
		if err := r.DB.SealDelivery(ctx, d, []int64{ev.Seq}, ev.Pos()); err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(time.Hour)
		if holders[i] == "dead" {
			until = time.Now().Add(time.Second)
		}
		if ok, err := r.DB.StartAttempt(ctx, d.ID, holders[i], until); err != nil || !ok {
			t.Fatal(ok, err)
		}
		ids[i] = d.ID
	}
	b := r.replica(t, delivery.Config{Replica: "b", Previous: []string{"me-before"}})
	b.Clock.Add(2 * time.Second) // past the dead replica's lease
	runEngine(t, b.Engine)
	delivered := func(id string) bool {
		d, _, err := r.DB.DeliveryByID(ctx, id)
		return err == nil && d.Status == store.StatusDelivered
	}
	waitUntil(t, "b uploads the dead replica's and its predecessor's files", 20*time.Second, func() bool { return delivered(ids[0]) && delivered(ids[2]) })
	for _, i := range []int{0, 2} {
		as := attemptsOf(t, r.DB, ids[i])
		if len(as) != 2 || as[0].Replica != holders[i] || as[0].Code != "Interrupted" || as[1].Replica != "b" || !as[1].OK {
			t.Errorf("%s's file: attempts %+v, want %s's interrupted one, then b's", holders[i], as, holders[i])
		}
		checkNoOverlap(t, ids[i], as)
	}
	d, as, _ := r.DB.DeliveryByID(ctx, ids[1])
	if d.Status != store.StatusUploading || d.LeaseHolder != "alive" || len(as) != 0 {
		t.Errorf("the live replica's upload = %s by %q with %d attempts, want left alone", d.Status, d.LeaseHolder, len(as))
	}
	if keys := r.MinIO.MustListKeys(t, r.Bucket, "raw/resume/"); len(keys) != 2 {
		t.Errorf("objects %v, want the two resumed files", keys)
	}
}

func TestSuccessMarksHealthyAfterAnotherReplicaRecordedAFailure(t *testing.T) {
	r := mustRig(t)
	ctx := context.Background()
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "health", BatchSize: 5, BatchMaxAgeSeconds: 1})
	a := r.replica(t, delivery.Config{Replica: "a"})
	runEngine(t, a.Engine)
	health := func() string {
		d, err := r.DB.DestinationByID(ctx, r.Dest.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Health
	}
	r.send(t, "h", 5, "track")
	r.waitDelivered(t, m.ID, 5, 30*time.Second)
	if got := health(); got != store.HealthHealthy {
		t.Fatalf("health = %s after a success, want healthy", got)
	}
	// Another replica's upload failed meanwhile; a's next success is what
	// the destination's health must show, whatever a wrote last.
	if err := r.DB.RecordFailure(ctx, r.Dest.ID, store.HealthRetrying, "SlowDown", "Please reduce your request rate."); err != nil {
		t.Fatal(err)
	}
	r.send(t, "i", 5, "track")
	r.waitDelivered(t, m.ID, 10, 30*time.Second)
	if got := health(); got != store.HealthHealthy {
		t.Errorf("health = %s after a's later success, want healthy", got)
	}
}
