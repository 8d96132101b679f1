package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RouterLease is the lease of the one replica that routes events: reads
// them, fills batches, seals deliveries and moves cursors.
const RouterLease = "router"

// RetentionLease is the lease of the one replica that purges events past
// the retention period for the whole cluster.
const RetentionLease = "retention"

// Lease times are db.Now's: on PostgreSQL the database server's clock as
// each replica measures it (clock.go), so replicas comparing an expiry that
// another wrote agree on it whatever their own clocks say.

// AcquireLease takes the lease name for holder until now+ttl, or renews it
// when holder has it already. It returns false when another holder has it
// and it has not expired.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := db.Now()
	// The conditional upsert is one statement: two replicas taking an
	// expired lease at once cannot both succeed.
	res, err := db.write.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`, name, holder, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, fmt.Errorf("acquire lease: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseLease gives the lease name up if holder has it, so that another
// replica takes it at once rather than after its expiry.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// ReleaseLeasesOf gives up every lease of holder: a restarting process
// releases those of its own earlier incarnation, which is dead.
func (db *DB) ReleaseLeasesOf(ctx context.Context, holder string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM leases WHERE holder = ?`, holder); err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	return nil
}

// LeaseHolder returns who holds the lease name and until when. Returns
// ENOTFOUND when nobody ever took it or it was released; an expired lease is
// returned as it is.
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var exp int64
	err := db.read.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, Errorf(ENOTFOUND, "Nobody holds the %s lease.", name)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("lease holder: %w", err)
	}
	return holder, fromMS(exp), nil
}

type fenceKey struct{}

type fence struct{ name, holder string }

// Fenced returns a context under which the router's writes (SealDelivery,
// SetCursor) succeed only while holder still holds the unexpired lease
// name, checked in the same transaction as the write. A replica that paused
// past its lease's expiry, and whose lease another took, so cannot seal a
// second file of the same events. Such a write returns ECONFLICT with field
// "lease".
func Fenced(ctx context.Context, name, holder string) context.Context {
	return context.WithValue(ctx, fenceKey{}, fence{name, holder})
}

// IsLeaseLost reports whether err is a write refused by Fenced.
func IsLeaseLost(err error) bool {
	return ErrorCode(err) == ECONFLICT && ErrorField(err) == "lease"
}

// checkFence fails unless the fence of ctx, when it has one, holds. An
// UPDATE rather than a SELECT: in PostgreSQL it locks the lease row until
// the write commits, so a takeover waits for it.
func (db *DB) checkFence(ctx context.Context, tx execer) error {
	f, ok := ctx.Value(fenceKey{}).(fence)
	if !ok {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE leases SET holder = holder WHERE name = ? AND holder = ? AND expires_at > ?`, f.name, f.holder, ms(db.Now()))
	if err != nil {
		return fmt.Errorf("check lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return &Error{Code: ECONFLICT, Field: "lease", Message: fmt.Sprintf("Replica %s no longer holds the %s lease.", f.holder, f.name)}
	}
	return nil
}
