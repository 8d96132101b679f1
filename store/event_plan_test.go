package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// TestEventFiltersUseIndexes: the events page filters by source or by type,
// newest first, through an index, so a rare type does not mean reading every
// stored event.
func TestEventFiltersUseIndexes(t *testing.T) {
	db := MustOpen(t)
	for _, tt := range []struct {
		f     store.EventFilter
		index string
	}{
		{store.EventFilter{Type: "alias"}, "events_type_seq"},
		{store.EventFilter{Type: "alias", Before: 1000}, "events_type_seq"},
		{store.EventFilter{SourceID: "src_x"}, "events_source_seq"},
	} {
		plan, err := db.EventsQueryPlan(context.Background(), tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tt.index) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan for %+v = %q, want it to read %s in order", tt.f, plan, tt.index)
		}
	}
}
