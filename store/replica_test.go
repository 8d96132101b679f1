package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestReplicasAreListedWithTheirLeasesAndStatus: a running replica is
// listed with the leases it holds; one that stops cleanly is "stopped", one
// that goes silent is "not responding"; one replaced by its restart is
// forgotten at once, and the others a day later.
func TestReplicasAreListedWithTheirLeasesAndStatus(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	db.Now = clk.Now
	started := clk.Now().Add(-time.Minute)
	for _, id := range []string{"replica-b", "replica-a"} {
		if err := db.RecordReplica(ctx, id, "v1.2.3", started); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := db.AcquireLease(ctx, store.RouterLease, "replica-a", 6*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	list := func() map[string]*store.Replica {
		t.Helper()
		rs, err := db.ListReplicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*store.Replica{}
		for i, r := range rs {
			if i > 0 && rs[i-1].ID >= r.ID {
				t.Errorf("replicas not in id order: %s before %s", rs[i-1].ID, r.ID)
			}
			out[r.ID] = r
		}
		return out
	}
	rs := list()
	a, b := rs["replica-a"], rs["replica-b"]
	if len(rs) != 2 || a == nil || b == nil {
		t.Fatalf("listed %v, want replica-a and replica-b", rs)
	}
	if a.Version != "v1.2.3" || !a.StartedAt.Equal(started) || !a.SeenAt.Equal(clk.Now()) || a.Status(clk.Now()) != "running" {
		t.Errorf("replica-a = %+v (%s), want v1.2.3, started %v, seen now, running", a, a.Status(clk.Now()), started)
	}
	if !slices.Equal(a.Leases, []string{store.RouterLease}) || len(b.Leases) != 0 {
		t.Errorf("leases: replica-a %v, replica-b %v; want [router] and none", a.Leases, b.Leases)
	}
	if err := db.ReplicaStopped(ctx, "replica-b"); err != nil {
		t.Fatal(err)
	}
	clk.Add(store.ReplicaSilentAfter + time.Second)
	rs = list()
	if s := rs["replica-b"].Status(clk.Now()); s != "stopped" {
		t.Errorf("replica-b after a clean stop: %s, want stopped", s)
	}
	if s, l := rs["replica-a"].Status(clk.Now()), rs["replica-a"].Leases; s != "not responding" || len(l) != 0 {
		t.Errorf("replica-a unseen for %v: %s holding %v, want not responding and its lease expired", store.ReplicaSilentAfter, s, l)
	}
	// Back: running again, no longer stopped.
	if err := db.RecordReplica(ctx, "replica-b", "v1.2.4", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if r := list()["replica-b"]; r.Status(clk.Now()) != "running" || r.Version != "v1.2.4" || !r.StoppedAt.IsZero() {
		t.Errorf("replica-b restarted: %+v (%s), want running v1.2.4", r, r.Status(clk.Now()))
	}
	if err := db.ForgetReplica(ctx, "replica-a"); err != nil {
		t.Fatal(err)
	}
	if rs := list(); len(rs) != 1 || rs["replica-b"] == nil {
		t.Errorf("after ForgetReplica(replica-a): %v, want only replica-b", rs)
	}
	clk.Add(25 * time.Hour)
	if err := db.RecordReplica(ctx, "replica-c", "v1.2.4", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.PurgeReplicas(ctx); err != nil {
		t.Fatal(err)
	}
	if rs := list(); len(rs) != 1 || rs["replica-c"] == nil {
		t.Errorf("a day later: %v, want only replica-c", rs)
	}
}
