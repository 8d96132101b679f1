package delivery_test

import (
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

// TestEventsOfAReplicaThatDoesNotRouteWakeTheRouter: on PostgreSQL, events
// committed on a replica that does not hold the router lease are routed by
// the replica that does as soon as they are committed, not at its next
// poll. The router here polls once an hour, so only the notification can
// make it route within the test.
func TestEventsOfAReplicaThatDoesNotRouteWakeTheRouter(t *testing.T) {
	r := mustRigOn(t, pgtest.URL(t))
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", Folder: "told", BatchSize: 100, BatchMaxAgeSeconds: 3600})
	a := r.replica(t, delivery.Config{Replica: "a", Poll: time.Hour, LeaseTTL: time.Hour, LeaseRenew: time.Minute})
	runEngine(t, a.Engine)
	waitUntil(t, "a takes the free router lease", 10*time.Second, func() bool { return r.leaseHolder(t) == "a" })
	b := r.replica(t, delivery.Config{Replica: "b", Poll: time.Hour, LeaseRenew: time.Hour})
	runEngine(t, b.Engine)
	// The rig's appender commits as b's would: b is told.
	notify := b.Engine.Notify
	r.notify.Store(&notify)

	// Both engines listen before anything is sent: a notification nobody
	// listens for is lost.
	raw, err := sql.Open("pgx", r.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitUntil(t, "both engines listen", 30*time.Second, func() bool {
		var n int
		err := raw.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN "` + store.EventsChannel + `"'`).Scan(&n)
		return err == nil && n == 2
	})

	for round := 1; round <= 3; round++ {
		r.send(t, "x"+string(rune('0'+round)), 100, "track")
		r.waitDelivered(t, m.ID, 100*round, 30*time.Second)
	}
	if got := gather(t, b.Reg, "s3relay_engine_events_routed_total"); got != 0 {
		t.Errorf("b, not holding the lease, routed %v events", got)
	}
	if got := gather(t, a.Reg, "s3relay_engine_events_routed_total"); got != 300 {
		t.Errorf("a routed %v events, want 300", got)
	}
	if ids := r.jsonlIDs(t, "raw/told/"); len(ids) != 300 {
		t.Errorf("%d distinct events in the bucket, want 300", len(ids))
	}
}
