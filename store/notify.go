package store

import (
	"context"
	"fmt"
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

// Listen calls fn after each notification on channel, on a connection of
// its own, until ctx ends (it then returns nil) or the connection fails (it
// returns why; the caller decides when to listen again). On SQLite it
// returns nil at once: nothing else writes the database.
func (db *DB) Listen(ctx context.Context, channel string, fn func()) error {
	if !db.d.postgres {
		return nil
	}
	err := db.listenOnce(ctx, channel, fn)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("listen for %s: %w", channel, err)
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
