package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

func TestBacklogAndPurgeFollowDelivery(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	a := MustAppender(t, db)
	src, d, m := mustPipeline(t, db)
	old := received.Add(-30 * 24 * time.Hour)
	req := mustBatch(t, `{"batch":[
		{"type":"track","userId":"u","event":"A","messageId":"1"},
		{"type":"track","userId":"u","event":"A","messageId":"2"},
		{"type":"track","userId":"u","event":"A","messageId":"3"},
		{"type":"track","userId":"u","event":"A","messageId":"4"}]}`)
	if _, err := a.Append(ctx, src.ID, old, req.Messages, nil); err != nil {
		t.Fatal(err)
	}
	backlog := func() int64 {
		t.Helper()
		n, err := db.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := backlog(); n != 4 {
		t.Fatalf("backlog = %d, want 4 unrouted events", n)
	}
	// Events 1 and 2 are sealed into a file not yet written; the cursor moves past them.
	dl := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "k1"}
	if err := db.SealDelivery(ctx, dl, []int64{1, 2}, db.PositionOf(ctx, 2)); err != nil {
		t.Fatal(err)
	}
	if n := backlog(); n != 4 {
		t.Errorf("backlog = %d, want 4 (2 sealed, not written, and 2 unrouted)", n)
	}
	if _, err := db.PurgeEvents(ctx, received, 100); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := db.ListEvents(ctx, store.EventFilter{}); len(evs) != 4 {
		t.Errorf("purge deleted events still needed: %d left, want 4", len(evs))
	}
	if err := db.SealDelivery(ctx, dl, []int64{1}, store.Position{}); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("sealing an event twice for one mapping: %v, want conflict", err)
	}
	if err := db.SealDelivery(ctx, &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "k1"}, []int64{3}, store.Position{}); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("a second file with the same key: %v, want conflict", err)
	}
	if ok, err := db.StartAttempt(ctx, dl.ID, "r1", received.Add(time.Minute)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := db.FinishAttempt(ctx, dl.ID, store.AttemptOutcome{Attempt: store.Attempt{N: 1, At: received, OK: true, Replica: "r1"}, Status: store.StatusDelivered}); err != nil {
		t.Fatal(err)
	}
	if n := backlog(); n != 2 {
		t.Errorf("backlog = %d after the file was written, want 2", n)
	}
	if n, err := db.PurgeEvents(ctx, received, 100); err != nil || n != 2 {
		t.Errorf("purged %d, %v; want the 2 delivered events only", n, err)
	}
}

func TestFileWithoutKeyIsNotRetried(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	d := validDestination()
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := db.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	dl := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "unnamed/x", Status: store.StatusFailed, LastErrorCode: store.ErrCodeNoKey}
	if err := db.SealDelivery(ctx, dl, nil, store.Position{}); err != nil {
		t.Fatal(err)
	}
	if err := db.RetryDelivery(ctx, dl.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("retry of a file without a key: %v, want conflict", err)
	}
	if n, err := db.RetryFailed(ctx, d.ID); err != nil || n != 0 {
		t.Errorf("retry all failed = %d, %v; want the keyless file left alone", n, err)
	}

	// It can only be given a key no other file of the destination has.
	if ids, err := db.KeylessDeliveries(ctx, d.ID); err != nil || len(ids) != 1 || ids[0] != dl.ID {
		t.Fatalf("keyless deliveries = %v, %v; want %s", ids, err, dl.ID)
	}
	other := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "taken.json"}
	if err := db.SealDelivery(ctx, other, nil, store.Position{}); err != nil {
		t.Fatal(err)
	}
	if err := db.RekeyDelivery(ctx, dl.ID, "taken.json"); store.ErrorCode(err) != store.ECONFLICT || store.ErrorField(err) != "key" {
		t.Errorf("a key already taken: %v, want conflict on key", err)
	}
	if err := db.RekeyDelivery(ctx, dl.ID, "named.json"); err != nil {
		t.Fatal(err)
	}
	got, _, err := db.DeliveryByID(ctx, dl.ID)
	if err != nil || got.Key != "named.json" || got.Status != store.StatusPending || got.LastErrorCode != "" {
		t.Errorf("after naming: %+v, %v; want it pending under named.json", got, err)
	}
	if err := db.RekeyDelivery(ctx, other.ID, "again.json"); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("naming a file that has a key: %v, want conflict", err)
	}
}
