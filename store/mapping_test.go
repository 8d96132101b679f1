package store_test

import (
	"context"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// A mapping's partition time is stored and read back; a new one partitions
// by receipt with a week's window, and bad values name their field.
func TestMappingPartitionTime(t *testing.T) {
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
	got, err := db.MappingByID(ctx, d.ID, m.ID)
	if err != nil || got.PartitionTime != store.PartitionTimeReceived || got.PartitionWindowHours != 168 {
		t.Fatalf("new mapping: %+v, %v; want received and 168 hours", got, err)
	}
	got.PartitionTime, got.PartitionWindowHours = store.PartitionTimeEvent, 24
	if err := db.UpdateMapping(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := db.MappingByID(ctx, d.ID, m.ID); err != nil || again.PartitionTime != "event" || again.PartitionWindowHours != 24 {
		t.Errorf("after update: %+v, %v; want event and 24", again, err)
	}
	for _, tt := range []struct {
		time   string
		window int
		field  string
	}{
		{"hourly", 24, "partition_time"},
		{"EVENT", 24, "partition_time"},
		{"event", -1, "partition_window_hours"},
		{"event", store.MaxPartitionWindowHours + 1, "partition_window_hours"},
	} {
		bad := *got
		bad.PartitionTime, bad.PartitionWindowHours = tt.time, tt.window
		if err := db.UpdateMapping(ctx, &bad); store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != tt.field {
			t.Errorf("%q, %d: got %v, want invalid %s", tt.time, tt.window, err, tt.field)
		}
	}
}
