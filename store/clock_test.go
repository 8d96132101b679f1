package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestReplicasWithMissetClocksAgreeOnLeases: on PostgreSQL, replicas whose
// own clocks are an hour apart read the same time (the database server's),
// so the one whose clock runs ahead cannot take a lease the other still
// holds, nor recover an upload still in progress, and the one whose clock
// runs behind cannot keep a lease past its expiry.
func TestReplicasWithMissetClocksAgreeOnLeases(t *testing.T) {
	ctx := context.Background()
	db1, ahead := twoHandles(t)
	if !db1.Postgres() {
		if off := db1.ClockOffset(); off != 0 {
			t.Fatalf("SQLite's clock offset: %v, want 0", off)
		}
		return
	}
	if err := store.SkewLocalClock(ctx, ahead, time.Hour); err != nil {
		t.Fatal(err)
	}
	if off := ahead.ClockOffset(); off > -time.Hour+time.Second || off < -time.Hour-time.Second {
		t.Fatalf("the offset of a clock an hour ahead: %v, want about -1h", off)
	}
	if d := ahead.Now().Sub(db1.Now()); d > time.Second || d < -time.Second {
		t.Fatalf("the replicas' times differ by %v, want under a second", d)
	}
	const ttl = 6 * time.Second
	if ok, err := db1.AcquireLease(ctx, store.RouterLease, "replica-1", ttl); err != nil || !ok {
		t.Fatalf("replica-1 takes the free lease: %v %v", ok, err)
	}
	if ok, err := ahead.AcquireLease(ctx, store.RouterLease, "replica-2", ttl); err != nil || ok {
		t.Fatalf("replica-2, its clock an hour ahead, took the lease replica-1 holds: %v %v", ok, err)
	}
	if holder, until, err := ahead.LeaseHolder(ctx, store.RouterLease); err != nil || holder != "replica-1" || until.Before(ahead.Now()) {
		t.Fatalf("replica-2 sees lease holder %q until %v (now %v), %v: want replica-1, not expired", holder, until, ahead.Now(), err)
	}
	// The same for an upload's lease.
	mustAcquireUpload(t, db1, "replica-1")
	if n, err := ahead.RecoverUploads(ctx, ahead.Now()); err != nil || n != 0 {
		t.Fatalf("replica-2 recovered %d uploads still leased to replica-1 (%v), want 0", n, err)
	}
	// A clock behind does not keep a lease alive: an hour behind, the
	// lease is seen expired at the same moment by both.
	behind := ahead
	if err := store.SkewLocalClock(ctx, behind, -time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, err := behind.AcquireLease(ctx, "short", "replica-2", 500*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	time.Sleep(600 * time.Millisecond)
	if ok, err := db1.AcquireLease(ctx, "short", "replica-1", ttl); err != nil || !ok {
		t.Fatalf("replica-1 cannot take the lease that replica-2 (clock an hour behind) let expire: %v %v", ok, err)
	}
}

// mustAcquireUpload seals a delivery and starts holder's upload of it, its
// lease 20 s from db's now.
func mustAcquireUpload(t *testing.T, db *store.DB, holder string) {
	t.Helper()
	ctx := context.Background()
	keys, err := store.LoadKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db.UseKeys(keys)
	_, d, m := mustPipeline(t, db)
	dl := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "k"}
	if err := db.SealDelivery(ctx, dl, nil, store.Position{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.StartAttempt(ctx, dl.ID, holder, db.Now().Add(20*time.Second)); err != nil || !ok {
		t.Fatalf("%s's claim: %v %v", holder, ok, err)
	}
}
