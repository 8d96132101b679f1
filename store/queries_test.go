package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestQueriesRunOnEveryBackend walks a delivery's life through the store
// calls that other packages' tests cover on SQLite only, so that each of
// their queries also runs, and answers sensibly, on PostgreSQL.
func TestQueriesRunOnEveryBackend(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Ping(ctx))
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	if _, err := db.RenameSource(ctx, src.ID, "site"); err != nil {
		t.Fatal(err)
	}
	if s, err := db.RotateWriteKey(ctx, src.ID); err != nil || s.WriteKey == src.WriteKey {
		t.Fatalf("rotate: %v", err)
	} else if got, err := db.SourceByWriteKey(ctx, s.WriteKey); err != nil || got.ID != src.ID || got.Name != "site" {
		t.Fatalf("by write key: %+v, %v", got, err)
	}
	if n, err := db.CountSources(ctx); err != nil || n != 1 {
		t.Fatalf("count sources: %d, %v", n, err)
	}
	d := validDestination()
	d.Enabled, d.SourceIDs = true, []string{src.ID}
	must(db.CreateDestination(ctx, d))
	must(db.SetWizardStep(ctx, d.ID, "mappings"))
	must(db.RecordTest(ctx, d.ID, store.TestResult{OK: true, At: received}))
	must(db.SetHealth(ctx, d.ID, "healthy", ""))
	must(db.RecordFailure(ctx, d.ID, "unhealthy", "SlowDown", "slow down"))
	must(db.SetDestinationEnabled(ctx, d.ID, false))
	must(db.SetDestinationEnabled(ctx, d.ID, true))
	if ds, _, err := db.ListDestinations(ctx, store.Page{}); err != nil || len(ds) != 1 || ds[0].HealthFailures != 1 {
		t.Fatalf("list destinations: %+v, %v", ds, err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	must(db.CreateMapping(ctx, m))
	other := &store.Mapping{DestinationID: d.ID, Name: "other", Enabled: true}
	must(db.CreateMapping(ctx, other))
	must(db.DeleteMapping(ctx, d.ID, other.ID))
	if ms, err := db.ActiveMappings(ctx); err != nil || len(ms) != 1 {
		t.Fatalf("active mappings: %d, %v", len(ms), err)
	}

	req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"1"},{"type":"track","userId":"u","event":"B","messageId":"2"}]}`)
	if _, err := a.Append(ctx, src.ID, received, req.Messages, nil); err != nil {
		t.Fatal(err)
	}
	es, err := db.EventsAfter(ctx, store.Position{}, 10, false)
	if err != nil || len(es) != 2 || len(es[0].Body) != 0 {
		t.Fatalf("events after: %d, %v", len(es), err)
	}
	must(db.EventBodies(ctx, es))
	if len(es[1].Body) == 0 {
		t.Fatal("event bodies: none filled in")
	}
	if e, err := db.EventBySeq(ctx, es[1].Seq); err != nil || e.ID != "2" {
		t.Fatalf("event by seq: %+v, %v", e, err)
	}
	if n, err := db.LastSeq(ctx); err != nil || n != es[1].Seq {
		t.Fatalf("last seq: %d, %v", n, err)
	}
	sealed := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "k/1.jsonl", Events: 1}
	must(db.SealDelivery(ctx, sealed, []int64{es[0].Seq}, es[0].Pos()))
	if ahead, err := db.SealedAfter(ctx, m.ID, store.Position{}); err != nil || len(ahead) != 1 {
		t.Fatalf("sealed after: %v, %v", ahead, err)
	}
	if n, err := db.StoredEventCount(ctx, sealed.ID); err != nil || n != 1 {
		t.Fatalf("stored event count: %d, %v", n, err)
	}
	var got []string
	must(db.DeliveryEvents(ctx, sealed.ID, 0, func(e *store.Event) error { got = append(got, e.ID); return nil }))
	must(db.DeliveryBodies(ctx, sealed.ID, func(body []byte) error { got = append(got, string(body[:1])); return nil }))
	if len(got) != 2 || got[0] != "1" || got[1] != "{" {
		t.Fatalf("delivery events and bodies: %q", got)
	}
	if due, err := db.DueDeliveries(ctx, db.Now().Add(time.Hour), 10); err != nil || len(due) != 1 {
		t.Fatalf("due: %d, %v", len(due), err)
	}
	if next, err := db.NextDue(ctx); err != nil || next.IsZero() {
		t.Fatalf("next due: %v, %v", next, err)
	}
	if ok, err := db.StartAttempt(ctx, sealed.ID, "a", db.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("start: %v, %v", ok, err)
	}
	if n, err := db.RecoverUploads(ctx, db.Now(), "a"); err != nil || n != 1 {
		t.Fatalf("recover uploads: %d, %v", n, err)
	}
	if ok, err := db.StartAttempt(ctx, sealed.ID, "b", db.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("start again: %v, %v", ok, err)
	}
	must(db.FinishAttempt(ctx, sealed.ID, store.AttemptOutcome{Status: store.StatusRetrying, NextAt: received.Add(time.Hour), RetryingSince: received,
		Attempt: store.Attempt{N: 1, Replica: "b", At: received, Duration: time.Second, Code: "SlowDown", Message: "slow down"}}))
	if n, err := db.WakeRetrying(ctx, d.ID, received); err != nil || n != 1 {
		t.Fatalf("wake retrying: %d, %v", n, err)
	}
	if next, err := db.NextDueOf(ctx, d.ID, ""); err != nil || next.IsZero() {
		t.Fatalf("next due of: %v, %v", next, err)
	}
	if ok, err := db.StartAttempt(ctx, sealed.ID, "b", db.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("start a second attempt: %v, %v", ok, err)
	}
	must(db.FinishAttempt(ctx, sealed.ID, store.AttemptOutcome{Status: store.StatusFailed, RetryingSince: received,
		Attempt: store.Attempt{N: 2, Replica: "b", At: received, Duration: time.Second, Code: "AccessDenied", Message: "denied"}}))
	if n, err := db.RetryFailed(ctx, d.ID); err != nil || n != 1 {
		t.Fatalf("retry failed: %d, %v", n, err)
	}
	if ks, err := db.KeylessDeliveries(ctx, d.ID); err != nil || len(ks) != 0 {
		t.Fatalf("keyless: %v, %v", ks, err)
	}
	ds, _, err := db.ListDeliveries(ctx, store.DeliveryFilter{DestinationID: d.ID, MappingID: m.ID, Since: received.Add(-time.Hour)})
	if err != nil || len(ds) != 1 {
		t.Fatalf("list deliveries: %d, %v", len(ds), err)
	}
	// Two outcomes, and the attempt RecoverUploads recorded for replica a.
	if dl, attempts, err := db.DeliveryByID(ctx, sealed.ID); err != nil || len(attempts) != 3 || dl.Attempts < 0 {
		t.Fatalf("delivery by id: %+v, %d attempts, %v", dl, len(attempts), err)
	}
	if _, err := db.DestinationStats(ctx, received.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ts, err := db.ListTokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("tokens: %v, %v", ts, err)
	}
	must(db.DeleteDestination(ctx, d.ID))
	must(db.DeleteSource(ctx, src.ID))
	if _, err := db.SourceByID(ctx, src.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("deleted source: %v, want not found", err)
	}
}
