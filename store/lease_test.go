package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustTwoReplicas opens one database file twice, as two replicas would,
// each with its own clock.
func mustTwoReplicas(tb testing.TB) (a, b *store.DB, ca, cb *testClock) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "s3relay.db")
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ca, cb = &testClock{t: start}, &testClock{t: start}
	for _, p := range []struct {
		db **store.DB
		c  *testClock
	}{{&a, ca}, {&b, cb}} {
		db, err := store.Open(context.Background(), path)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		db.Now = p.c.Now
		*p.db = db
	}
	return a, b, ca, cb
}

func TestRouterLeaseIsHeldByOneAndTakenAfterExpiry(t *testing.T) {
	ctx := context.Background()
	a, b, ca, cb := mustTwoReplicas(t)
	ttl := 6 * time.Second
	acquire := func(db *store.DB, holder string) bool {
		t.Helper()
		ok, err := db.AcquireLease(ctx, store.RouterLease, holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire(a, "a") {
		t.Fatal("a could not take a free lease")
	}
	if acquire(b, "b") {
		t.Fatal("b took the lease a holds")
	}
	ca.Add(4 * time.Second)
	cb.Add(4 * time.Second)
	if !acquire(a, "a") {
		t.Fatal("a could not renew its lease")
	}
	// a stops renewing: 5 s later its renewed lease still holds, 7 s later not.
	cb.Add(5 * time.Second)
	if acquire(b, "b") {
		t.Fatal("b took a lease renewed 5 s before, with 6 s to live")
	}
	cb.Add(2 * time.Second)
	if !acquire(b, "b") {
		t.Fatal("b could not take a's expired lease")
	}
	if holder, exp, err := b.LeaseHolder(ctx, store.RouterLease); err != nil || holder != "b" || !exp.Equal(cb.Now().Add(ttl)) {
		t.Errorf("lease = %q until %v (%v), want b until %v", holder, exp, err, cb.Now().Add(ttl))
	}
	// a, paused meanwhile, comes back: it cannot renew.
	ca.Add(time.Second)
	if acquire(a, "a") {
		t.Fatal("a renewed a lease b took over")
	}
	if err := b.ReleaseLease(ctx, store.RouterLease, "a"); err != nil {
		t.Fatal(err)
	}
	if holder, _, _ := b.LeaseHolder(ctx, store.RouterLease); holder != "b" {
		t.Errorf("a release by a non-holder changed the holder to %q", holder)
	}
	if err := b.ReleaseLease(ctx, store.RouterLease, "b"); err != nil {
		t.Fatal(err)
	}
	if !acquire(a, "a") {
		t.Error("a could not take a released lease")
	}
}

func TestStaleRouterCannotSealOrMoveCursors(t *testing.T) {
	ctx := context.Background()
	a, b, _, cb := mustTwoReplicas(t)
	keys, _ := store.LoadKeys(t.TempDir())
	a.UseKeys(keys)
	b.UseKeys(keys)
	app := MustAppender(t, a)
	src := MustSource(t, a, "web")
	d := validDestination()
	d.Enabled, d.SourceIDs = true, []string{src.ID}
	if err := a.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := a.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"1"},{"type":"track","userId":"u","event":"A","messageId":"2"}]}`)
	if _, err := app.Append(ctx, src.ID, received, req.Messages, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AcquireLease(ctx, store.RouterLease, "a", 6*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	fencedA := store.Fenced(ctx, store.RouterLease, "a")
	if err := a.SetCursor(fencedA, m.ID, store.SeqPosition(1)); err != nil {
		t.Fatalf("the holder's cursor move: %v", err)
	}
	// a pauses past its lease; b takes it over and seals event 2.
	cb.Add(7 * time.Second)
	if ok, err := b.AcquireLease(ctx, store.RouterLease, "b", 6*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	stale := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "from-a"}
	if err := a.SealDelivery(fencedA, stale, []int64{2}, store.SeqPosition(2)); !store.IsLeaseLost(err) {
		t.Fatalf("stale holder's seal: %v, want the lease lost", err)
	}
	if _, _, err := b.DeliveryByID(ctx, stale.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("the refused seal left its delivery: %v", err)
	}
	if err := a.SetCursor(fencedA, m.ID, store.SeqPosition(2)); !store.IsLeaseLost(err) {
		t.Errorf("stale holder's cursor move: %v, want the lease lost", err)
	}
	if cur, _ := b.Cursors(ctx); cur[m.ID].Seq != 1 {
		t.Errorf("cursor = %d after refused moves, want 1", cur[m.ID].Seq)
	}
	fresh := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "from-b"}
	if err := b.SealDelivery(store.Fenced(ctx, store.RouterLease, "b"), fresh, []int64{2}, store.SeqPosition(2)); err != nil {
		t.Fatalf("the new holder's seal: %v", err)
	}
	if cur, _ := b.Cursors(ctx); cur[m.ID].Seq != 2 {
		t.Errorf("cursor = %d after the holder's seal, want 2", cur[m.ID].Seq)
	}
}

func TestUploadLeaseClaimedOnceFencedAndRecoveredAfterExpiry(t *testing.T) {
	ctx := context.Background()
	a, b, ca, cb := mustTwoReplicas(t)
	keys, _ := store.LoadKeys(t.TempDir())
	a.UseKeys(keys)
	src := MustSource(t, a, "web")
	d := validDestination()
	d.Enabled, d.SourceIDs = true, []string{src.ID}
	if err := a.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := a.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	dl := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "k"}
	if err := a.SealDelivery(ctx, dl, nil, store.Position{}); err != nil {
		t.Fatal(err)
	}
	until := ca.Now().Add(20 * time.Second)
	if ok, err := a.StartAttempt(ctx, dl.ID, "a", until); err != nil || !ok {
		t.Fatalf("a's claim: %v %v", ok, err)
	}
	if ok, err := b.StartAttempt(ctx, dl.ID, "b", until); err != nil || ok {
		t.Fatalf("b claimed a delivery a uploads: %v %v", ok, err)
	}
	got, _, _ := b.DeliveryByID(ctx, dl.ID)
	if got.Status != store.StatusUploading || got.LeaseHolder != "a" || !got.LeaseExpiresAt.Equal(until) {
		t.Errorf("claimed delivery = %s by %q until %v, want uploading by a until %v", got.Status, got.LeaseHolder, got.LeaseExpiresAt, until)
	}
	// Before the lease expires, nobody recovers it.
	if n, err := b.RecoverUploads(ctx, cb.Now().Add(19*time.Second)); err != nil || n != 0 {
		t.Fatalf("recovered %d (%v) before the lease expired", n, err)
	}
	cb.Add(21 * time.Second)
	if n, err := b.RecoverUploads(ctx, cb.Now()); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want the expired upload", n, err)
	}
	got, attempts, _ := b.DeliveryByID(ctx, dl.ID)
	if got.Status != store.StatusPending || got.LeaseHolder != "" || len(attempts) != 1 || attempts[0].Replica != "a" ||
		attempts[0].Code != "Interrupted" || attempts[0].OK || !attempts[0].At.Add(attempts[0].Duration).Equal(cb.Now()) {
		t.Fatalf("recovered delivery = %s by %q, attempts %+v", got.Status, got.LeaseHolder, attempts)
	}
	if ok, err := b.StartAttempt(ctx, dl.ID, "b", cb.Now().Add(20*time.Second)); err != nil || !ok {
		t.Fatalf("b's claim after recovery: %v %v", ok, err)
	}
	// a comes back with its outcome: refused, b's attempt stands.
	late := store.AttemptOutcome{Attempt: store.Attempt{N: 1, At: ca.Now(), OK: true, Replica: "a"}, Status: store.StatusDelivered}
	if err := a.FinishAttempt(ctx, dl.ID, late); !store.IsLeaseLost(err) {
		t.Fatalf("a's late outcome: %v, want the lease lost", err)
	}
	if err := a.ExtendAttempt(ctx, dl.ID, "a", ca.Now().Add(time.Hour)); !store.IsLeaseLost(err) {
		t.Errorf("a's extension: %v, want the lease lost", err)
	}
	done := store.AttemptOutcome{Attempt: store.Attempt{N: 2, At: cb.Now(), OK: true, Replica: "b"}, Status: store.StatusDelivered}
	if err := b.FinishAttempt(ctx, dl.ID, done); err != nil {
		t.Fatal(err)
	}
	got, attempts, _ = b.DeliveryByID(ctx, dl.ID)
	if got.Status != store.StatusDelivered || len(attempts) != 2 || attempts[1].Replica != "b" {
		t.Errorf("delivery = %s, attempts %+v, want delivered by b after a's interrupted attempt", got.Status, attempts)
	}
}

func TestRecoverUploadsOfAnEarlierIncarnationAtOnce(t *testing.T) {
	ctx := context.Background()
	a, b, ca, cb := mustTwoReplicas(t)
	keys, _ := store.LoadKeys(t.TempDir())
	a.UseKeys(keys)
	d := validDestination()
	if err := a.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := a.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	claim := func(holder string) string {
		dl := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: holder}
		if err := a.SealDelivery(ctx, dl, nil, store.Position{}); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.StartAttempt(ctx, dl.ID, holder, ca.Now().Add(time.Minute)); err != nil || !ok {
			t.Fatal(ok, err)
		}
		return dl.ID
	}
	mine, theirs := claim("me-before"), claim("other")
	if n, err := b.RecoverUploads(ctx, cb.Now(), "me-before"); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want the earlier incarnation's one", n, err)
	}
	if got, _, _ := b.DeliveryByID(ctx, mine); got.Status != store.StatusPending {
		t.Errorf("earlier incarnation's upload is %s, want pending", got.Status)
	}
	if got, _, _ := b.DeliveryByID(ctx, theirs); got.Status != store.StatusUploading || got.LeaseHolder != "other" {
		t.Errorf("another replica's live upload is %s by %q, want left alone", got.Status, got.LeaseHolder)
	}
}
