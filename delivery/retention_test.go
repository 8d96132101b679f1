package delivery_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

// TestRetentionPurgesOnceForTheCluster: of two replicas on one PostgreSQL
// database, only the holder of the retention lease purges, and when it
// stops renewing (it died), the other takes the purge over once the lease
// expires.
func TestRetentionPurgesOnceForTheCluster(t *testing.T) {
	ctx := context.Background()
	r := mustRigOn(t, pgtest.URL(t))
	a, b := r.replica(t, delivery.Config{}), r.replica(t, delivery.Config{})
	log := &syncBuffer{}
	retention := func(rep *replica, id string) *delivery.Retention {
		return &delivery.Retention{DB: rep.DB, Log: slog.New(slog.NewTextHandler(log, nil)), Keep: 24 * time.Hour, Every: time.Second, Replica: id}
	}
	ra, rb := retention(a, "replica-a"), retention(b, "replica-b")
	old := func(prefix string, n int) {
		var msgs []string
		for i := 0; i < n; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"type":"track","userId":"u","event":"E","messageId":"%s-%d"}`, prefix, i))
		}
		r.sendAt(t, received, msgs...)
	}
	old("first", 5)
	if n := ra.PurgeOnce(ctx); n != 5 {
		t.Fatalf("replica-a purged %d events, want the 5 past retention", n)
	}
	old("second", 3)
	if n := rb.PurgeOnce(ctx); n != 0 {
		t.Fatalf("replica-b purged %d events while replica-a holds the retention lease, want 0", n)
	}
	if holder, _, err := b.DB.LeaseHolder(ctx, store.RetentionLease); err != nil || holder != "replica-a" {
		t.Fatalf("retention lease holder %q (%v), want replica-a", holder, err)
	}
	if n := ra.PurgeOnce(ctx); n != 3 {
		t.Fatalf("replica-a, renewing, purged %d events, want 3", n)
	}
	// replica-a dies: past three passes without renewal its lease has
	// expired, and replica-b purges.
	old("third", 2)
	b.Clock.Add(3*time.Second + 100*time.Millisecond)
	if n := rb.PurgeOnce(ctx); n != 2 {
		t.Fatalf("replica-b purged %d events after replica-a's lease expired, want 2", n)
	}
	if holder, _, err := b.DB.LeaseHolder(ctx, store.RetentionLease); err != nil || holder != "replica-b" {
		t.Errorf("retention lease holder %q (%v), want replica-b", holder, err)
	}
}

// TestRetentionHandsItsLeaseBackWhenItStops: a replica that shuts down
// releases the retention lease, so another purges at its next pass.
func TestRetentionHandsItsLeaseBackWhenItStops(t *testing.T) {
	r := mustRigOn(t, pgtest.URL(t))
	a := r.replica(t, delivery.Config{})
	ret := &delivery.Retention{DB: a.DB, Log: slog.New(slog.NewTextHandler(&syncBuffer{}, nil)), Keep: time.Hour, Every: time.Hour, Replica: "replica-a"}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ret.Run(ctx) }()
	waitUntil(t, "replica-a takes the retention lease", 10*time.Second, func() bool {
		holder, _, _ := a.DB.LeaseHolder(context.Background(), store.RetentionLease)
		return holder == "replica-a"
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if holder, _, err := a.DB.LeaseHolder(context.Background(), store.RetentionLease); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("after replica-a stopped, the retention lease is held by %q (%v), want released", holder, err)
	}
}
