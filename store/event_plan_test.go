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
		// A sort step (SQLite's temporary B-tree, PostgreSQL's Sort) would mean
		// reading every matching row before the first page.
		if !strings.Contains(plan, tt.index) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
			t.Errorf("plan for %+v = %q, want it to read %s in order", tt.f, plan, tt.index)
		}
	}
}
