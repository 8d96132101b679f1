package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replicas wake each other through the database. On PostgreSQL a
// transaction that makes work for every replica (a file sealed: any replica
// may upload it) sends a NOTIFY on a channel, delivered when it commits, and
// each replica's engine LISTENs on its own connection; on SQLite there is
// one process, whose engine wakes itself.

// DeliveriesChannel is notified when deliveries became due: files sealed.
const DeliveriesChannel = "s3relay_deliveries"

// notify sends a notification on channel when tx commits (PostgreSQL only).
func (db *DB) notify(ctx context.Context, tx execer, channel string) error {
	if !db.d.postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify(?, '')`, channel)
	return err
}

// Listen calls fn after each notification on channel, until ctx ends, on a
// connection of its own (reconnecting after an error, a second later, and
// calling fn then too: a notification may have been missed meanwhile). On
// SQLite it returns nil at once: nothing else writes the database.
func (db *DB) Listen(ctx context.Context, channel string, fn func()) error {
	if !db.d.postgres {
		return nil
	}
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, fn)
		if ctx.Err() != nil {
			break
		}
		_ = err // the engine polls meanwhile; the next connection says more
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			fn()
		}
	}
	return nil
}

func (db *DB) listenOnce(ctx context.Context, channel string, fn func()) error {
	conn, err := pgx.Connect(ctx, db.path)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		fn()
	}
}
