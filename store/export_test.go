package store

import (
	"context"
	"io/fs"
	"strings"
	"time"
)

// OpenWith opens a database with a chosen migration set, so tests can write a
// data dir as an older release would have.
// On PostgreSQL the set is read from dir/postgres.
func OpenWith(ctx context.Context, path string, fsys fs.FS, dir string) (*DB, error) {
	return openWith(ctx, path, fsys, dir, true)
}

// MigrationFS is the embedded migration set.
var MigrationFS = migrationFS

// EventsQueryPlan is the database's plan for ListEvents with f. On
// PostgreSQL, sequential scans, bitmap scans and sorts are disabled for it (kept only when nothing else answers): its tables are too small
// in tests for the planner to prefer an index otherwise.
func (db *DB) EventsQueryPlan(ctx context.Context, f EventFilter) (string, error) {
	q, args := db.d.eventsQuery(f, 50)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if db.d.postgres {
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off`); err != nil {
			return "", err
		}
		q = `EXPLAIN ` + q
	} else {
		q = `EXPLAIN QUERY PLAN ` + q
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var detail string
		if db.d.postgres {
			err = rows.Scan(&detail)
		} else {
			var id, parent, unused int
			err = rows.Scan(&id, &parent, &unused, &detail)
		}
		if err != nil {
			return "", err
		}
		plan = append(plan, strings.TrimSpace(detail))
	}
	return strings.Join(plan, "; "), rows.Err()
}

// Exec runs a statement, for tests that set up what no API writes.
func (db *DB) Exec(ctx context.Context, q string, args ...any) error {
	_, err := db.write.ExecContext(ctx, q, args...)
	return err
}

// PositionOf is the position of the stored event seq.
func (db *DB) PositionOf(ctx context.Context, seq int64) Position {
	p := Position{Seq: seq}
	if db.d.postgres {
		db.read.QueryRowContext(ctx, `SELECT xid FROM events WHERE seq = ?`, seq).Scan(&p.Xid)
	}
	return p
}

// Count runs a SELECT count(*) statement.
func (db *DB) Count(ctx context.Context, q string, args ...any) (n int64, err error) {
	err = db.read.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// SkewLocalClock makes the process's own clock run d ahead (behind when
// negative) for db, as a replica's misset clock would, and measures the
// database's clock again. PostgreSQL only.
func SkewLocalClock(ctx context.Context, db *DB, d time.Duration) error {
	db.clock.local = func() time.Time { return time.Now().Add(d) }
	return db.syncClock(ctx)
}

// Queued is how many requests wait for the appender's next commit.
func (a *Appender) Queued() int { return len(a.reqs) }
