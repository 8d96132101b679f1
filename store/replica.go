package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ReplicaHeartbeat is how often a running replica records itself.
const ReplicaHeartbeat = 5 * time.Second

// ReplicaSilentAfter is how long a replica that has not stopped may go
// unseen before it is reported as not responding (killed, or cut off from
// the database).
const ReplicaSilentAfter = 3 * ReplicaHeartbeat

// replicaForgetAfter is how long a replica that is gone stays listed.
const replicaForgetAfter = 24 * time.Hour

// Replica is a server process that ran on this database.
type Replica struct {
	ID        string
	Version   string
	StartedAt time.Time
	SeenAt    time.Time
	StoppedAt time.Time // zero unless it stopped cleanly
	// Leases are the names of the unexpired leases it holds (RouterLease,
	// the retention lease).
	Leases []string
}

// Status is "running", "stopped" or "not responding", at now.
func (r *Replica) Status(now time.Time) string {
	switch {
	case !r.StoppedAt.IsZero():
		return "stopped"
	case now.Sub(r.SeenAt) > ReplicaSilentAfter:
		return "not responding"
	default:
		return "running"
	}
}

// RecordReplica records that replica id, of the given build version and
// started at started, is running now.
func (db *DB) RecordReplica(ctx context.Context, id, version string, started time.Time) error {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO replicas (id, version, started_at, seen_at, stopped_at) VALUES (?, ?, ?, ?, NULL)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL`,
		id, version, ms(started), ms(db.Now())); err != nil {
		return fmt.Errorf("record replica: %w", err)
	}
	return nil
}

// PurgeReplicas deletes the replicas gone for a day (ListReplicas no longer
// shows them): part of the retention pass, once for the cluster.
func (db *DB) PurgeReplicas(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM replicas WHERE seen_at < ?`, ms(db.Now().Add(-replicaForgetAfter))); err != nil {
		return fmt.Errorf("purge replicas: %w", err)
	}
	return nil
}

// ReplicaStopped records that replica id stopped cleanly.
func (db *DB) ReplicaStopped(ctx context.Context, id string) error {
	now := ms(db.Now())
	if _, err := db.write.ExecContext(ctx, `UPDATE replicas SET seen_at = ?, stopped_at = ? WHERE id = ?`, now, now, id); err != nil {
		return fmt.Errorf("record replica stop: %w", err)
	}
	return nil
}

// ListReplicas returns the replicas that ran on this database in the last
// day, by id, with the leases each holds.
func (db *DB) ListReplicas(ctx context.Context) ([]*Replica, error) {
	now := db.Now()
	leases := map[string][]string{}
	rows, err := db.read.QueryContext(ctx, `SELECT name, holder FROM leases WHERE expires_at > ? ORDER BY name`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	for rows.Next() {
		var name, holder string
		if err := rows.Scan(&name, &holder); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		leases[holder] = append(leases[holder], name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	rows, err = db.read.QueryContext(ctx, `SELECT id, version, started_at, seen_at, stopped_at FROM replicas WHERE seen_at >= ? ORDER BY id`,
		ms(now.Add(-replicaForgetAfter)))
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []*Replica
	for rows.Next() {
		r := &Replica{}
		var started, seen int64
		var stopped sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Version, &started, &seen, &stopped); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.StartedAt, r.SeenAt = fromMS(started), fromMS(seen)
		if stopped.Valid {
			r.StoppedAt = fromMS(stopped.Int64)
		}
		r.Leases = leases[r.ID]
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// ForgetReplica deletes replica id from the list: an earlier incarnation of
// a restarted process, which the new one replaces.
func (db *DB) ForgetReplica(ctx context.Context, id string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?`, id); err != nil {
		return fmt.Errorf("forget replica: %w", err)
	}
	return nil
}
