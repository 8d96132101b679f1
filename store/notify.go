package store

import (
	"context"
	"fmt"
	"strings"
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

// EventsChannel is notified when a replica that does not route committed
// events, so that the router's replica routes them at once rather than at
// its next poll. The notification is its own transaction, after the
// events': a NOTIFY in the events' transaction would make their commits
// wait for each other, as PostgreSQL lets one notifying transaction commit
// at a time.
const EventsChannel = "s3relay_events"

// NotifyEvents sends a notification on EventsChannel (PostgreSQL only).
func (db *DB) NotifyEvents(ctx context.Context) error {
	return db.notify(ctx, db.write, EventsChannel)
}

// notify sends a notification on channel when tx commits, or at once
// outside a transaction (PostgreSQL only).
func (db *DB) notify(ctx context.Context, tx execer, channel string) error {
	if !db.d.postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify(?, '')`, channel)
	return err
}

// Listen calls fn with the channel of each notification on channels, on a
// connection of its own, until ctx ends (it then returns nil) or the
// connection fails (it returns why; the caller decides when to listen
// again). On SQLite it returns nil at once: nothing else writes the
// database.
func (db *DB) Listen(ctx context.Context, fn func(channel string), channels ...string) error {
	if !db.d.postgres {
		return nil
	}
	err := db.listenOnce(ctx, fn, channels)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("listen for %s: %w", strings.Join(channels, ", "), err)
}

func (db *DB) listenOnce(ctx context.Context, fn func(channel string), channels []string) error {
	conn, err := pgx.Connect(ctx, db.path)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Channel)
	}
}
