package store

import (
	"context"
	"io/fs"
	"strings"
)

// OpenWith opens a database with a chosen migration set, so tests can write a
// data dir as an older release would have.
func OpenWith(ctx context.Context, path string, fsys fs.FS, dir string) (*DB, error) {
	return openWith(ctx, path, fsys, dir, true)
}

// MigrationFS is the embedded migration set.
var MigrationFS = migrationFS

// EventsQueryPlan is SQLite's plan for ListEvents with f.
func (db *DB) EventsQueryPlan(ctx context.Context, f EventFilter) (string, error) {
	q, args := eventsQuery(f, 50)
	rows, err := db.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; "), rows.Err()
}
