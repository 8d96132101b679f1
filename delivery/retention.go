// Package delivery is s3relay's delivery engine: it routes committed events to
// mappings, batches them into files, uploads them and retries, and keeps the
// event store within its retention period.
package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/s3relay/s3relay/store"
)

// DefaultRetention is how long received events are kept once nothing needs
// them any more.
const DefaultRetention = 7 * 24 * time.Hour

// purgeBatch is the number of events deleted per transaction: small enough
// that the single writer is never held from ingestion for long.
const purgeBatch = 2000

// Retention purges events older than Keep that no delivery needs any more.
type Retention struct {
	DB    *store.DB
	Log   *slog.Logger
	Keep  time.Duration
	Every time.Duration
	// Replica, when set, makes the purge the cluster's job rather than each
	// replica's: only the holder of the retention lease purges (it renews
	// the lease at each pass, and another replica takes over within three
	// passes of its death), so replicas do not scan and delete the same
	// events at once, and the log reports each purge once.
	Replica string
}

func (r *Retention) every() time.Duration {
	if r.Every <= 0 {
		return time.Minute
	}
	return r.Every
}

// Run purges once at start and then every Every, until ctx is cancelled.
func (r *Retention) Run(ctx context.Context) error {
	t := time.NewTicker(r.every())
	defer t.Stop()
	for {
		r.PurgeOnce(ctx)
		select {
		case <-ctx.Done():
			if r.Replica != "" {
				// Handed back, so that another replica purges at its next
				// pass rather than after the lease's expiry.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				if err := r.DB.ReleaseLease(rctx, store.RetentionLease, r.Replica); err != nil {
					r.Log.Warn("hand back the retention lease", "err", err)
				}
			}
			return nil
		case <-t.C:
		}
	}
}

// PurgeOnce deletes what has passed the retention period and returns how
// many events it deleted.
func (r *Retention) PurgeOnce(ctx context.Context) int64 {
	if r.Replica != "" {
		ok, err := r.DB.AcquireLease(ctx, store.RetentionLease, r.Replica, 3*r.every())
		if err != nil && ctx.Err() == nil {
			r.Log.Error("purge events: take the retention lease", "err", err)
		}
		if !ok {
			return 0
		}
	}
	if err := r.DB.PurgeReplicas(ctx); err != nil && ctx.Err() == nil {
		r.Log.Error("purge replicas", "err", err)
	}
	n, err := r.DB.PurgeEvents(ctx, r.DB.Now().Add(-r.Keep), purgeBatch)
	if err != nil && ctx.Err() == nil {
		r.Log.Error("purge events", "err", err)
	}
	if n > 0 {
		r.Log.Info("purged events past the retention period", "events", n, "retention", r.Keep.String())
	}
	return n
}
