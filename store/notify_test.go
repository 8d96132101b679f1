package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestSealWakesListenersOfOtherHandles: on PostgreSQL a file sealed through
// one handle (replica) wakes a listener on another, once it commits, and
// not for a seal that was refused; on SQLite, one process, Listen returns at
// once.
func TestSealWakesListenersOfOtherHandles(t *testing.T) {
	a, b := twoHandles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	woken := make(chan struct{}, 16)
	listened := make(chan error, 1)
	go func() { listened <- b.Listen(ctx, func(string) { woken <- struct{}{} }, store.DeliveriesChannel) }()
	if !a.Postgres() {
		select {
		case err := <-listened:
			if err != nil {
				t.Fatalf("Listen on SQLite: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Listen on SQLite did not return")
		}
		return
	}

	src := &store.Source{Name: "web"}
	if err := a.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	d := &store.Destination{Name: "d", Enabled: true, SourceIDs: []string{src.ID},
		Config: store.DestinationConfig{Bucket: "acme-events", Region: "us-east-1", Auth: store.AuthDefault}}
	if err := a.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "all", Enabled: true}
	if err := a.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The listener connects in its own time: seal until it hears one.
	deadline := time.Now().Add(30 * time.Second)
	heard := false
	for i := 0; !heard; i++ {
		if err := a.SealDelivery(ctx, &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: store.NewID("k")}, nil, store.Position{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			heard = true
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification reached the other handle in 30s")
		}
	}
	for len(woken) > 0 {
		<-woken
	}
	time.Sleep(300 * time.Millisecond)
	for len(woken) > 0 {
		<-woken
	}
	// A refused seal (its key is taken) sends nothing.
	if err := a.SealDelivery(ctx, &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "same"}, nil, store.Position{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("a committed seal sent no notification")
	}
	if err := a.SealDelivery(ctx, &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: "same"}, nil, store.Position{}); store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("second seal of a key: %v, want a conflict", err)
	}
	select {
	case <-woken:
		t.Error("a refused seal woke the listener")
	case <-time.After(time.Second):
	}
	cancel()
	if err := <-listened; err != nil {
		t.Errorf("Listen: %v", err)
	}
}
