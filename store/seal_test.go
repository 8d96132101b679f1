package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestSealDeliveriesIsOneTransaction: several files and their cursors are
// sealed together, and a conflict in any of them writes nothing.
func TestSealDeliveriesIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	r := mustStatsRig(t)
	_, m1 := r.destination(t, "one", true)
	_, m2 := r.destination(t, "two", true)
	seqs := r.send(t, "s", 6, time.Now())
	last := r.DB.PositionOf(ctx, seqs[5])
	a := &store.Delivery{DestinationID: m1.DestinationID, MappingID: m1.ID, Key: "a.csv"}
	b := &store.Delivery{DestinationID: m1.DestinationID, MappingID: m1.ID, Key: "b.csv"}
	c := &store.Delivery{DestinationID: m2.DestinationID, MappingID: m2.ID, Key: "a.csv"}
	err := r.DB.SealDeliveries(ctx, []store.Seal{{Delivery: a, Seqs: seqs[:3]}, {Delivery: b, Seqs: seqs[3:]}, {Delivery: c, Seqs: seqs}},
		map[string]store.Position{m1.ID: last, m2.ID: last})
	if err != nil {
		t.Fatal(err)
	}
	cursors, err := r.DB.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cursors[m1.ID] != last || cursors[m2.ID] != last {
		t.Errorf("cursors %v, want both at %v", cursors, last)
	}
	for _, d := range []*store.Delivery{a, b, c} {
		got, _, err := r.DB.DeliveryByID(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusPending || got.Events != d.Events || got.MinSeq != d.MinSeq || got.MaxSeq != d.MaxSeq {
			t.Errorf("%s: got %+v", d.Key, got)
		}
	}

	// A second batch whose last file repeats a key: none of it is written.
	more := r.send(t, "t", 2, time.Now())
	d1 := &store.Delivery{DestinationID: m1.DestinationID, MappingID: m1.ID, Key: "c.csv"}
	d2 := &store.Delivery{DestinationID: m1.DestinationID, MappingID: m1.ID, Key: "a.csv"}
	err = r.DB.SealDeliveries(ctx, []store.Seal{{Delivery: d1, Seqs: more[:1]}, {Delivery: d2, Seqs: more[1:]}},
		map[string]store.Position{m1.ID: r.DB.PositionOf(ctx, more[1])})
	if store.ErrorCode(err) != store.ECONFLICT || store.ErrorField(err) != "key" {
		t.Fatalf("repeated key: got %v, want a key conflict", err)
	}
	if _, _, err := r.DB.DeliveryByID(ctx, d1.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("the batch's first file: got %v, want not found", err)
	}
	if n, err := r.DB.Count(ctx, `SELECT count(*) FROM delivery_events WHERE event_seq = ?`, more[0]); err != nil || n != 0 {
		t.Errorf("membership of the refused batch: %d rows, %v", n, err)
	}
	if cursors, _ := r.DB.Cursors(ctx); cursors[m1.ID] != last {
		t.Errorf("cursor moved by a refused batch: %v", cursors[m1.ID])
	}
}

// TestMembershipGoesWithItsDelivery: deleting a mapping or a destination
// deletes its files' membership rows and no others (on PostgreSQL a
// statement trigger does it, not per-row foreign keys).
func TestMembershipGoesWithItsDelivery(t *testing.T) {
	ctx := context.Background()
	r := mustStatsRig(t)
	d1, m1 := r.destination(t, "one", true)
	m1b := &store.Mapping{DestinationID: d1.ID, Name: "second", Enabled: true}
	if err := r.DB.CreateMapping(ctx, m1b); err != nil {
		t.Fatal(err)
	}
	d2, m2 := r.destination(t, "two", true)
	seqs := r.send(t, "s", 4, time.Now())
	for _, m := range []*store.Mapping{m1, m1b, m2} {
		r.seal(t, m, seqs[:2], 2, store.StatusPending, time.Now())
		r.seal(t, m, seqs[2:], 2, store.StatusDelivered, time.Now())
	}
	rows := func(m *store.Mapping) int64 {
		t.Helper()
		n, err := r.DB.Count(ctx, `SELECT count(*) FROM delivery_events WHERE mapping_id = ?`, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := r.DB.DeleteMapping(ctx, d1.ID, m1.ID); err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{rows(m1), rows(m1b), rows(m2)}; got != [3]int64{0, 4, 4} {
		t.Errorf("after deleting a mapping: membership rows %v, want [0 4 4]", got)
	}
	if err := r.DB.DeleteDestination(ctx, d1.ID); err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{rows(m1), rows(m1b), rows(m2)}; got != [3]int64{0, 0, 4} {
		t.Errorf("after deleting a destination: membership rows %v, want [0 0 4]", got)
	}
	if err := r.DB.DeleteDestination(ctx, d2.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := r.DB.Count(ctx, `SELECT count(*) FROM delivery_events`); err != nil || n != 0 {
		t.Errorf("after deleting every destination: %d membership rows, %v", n, err)
	}
}
