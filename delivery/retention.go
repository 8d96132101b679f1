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
}

// Run purges once at start and then every Every, until ctx is cancelled.
func (r *Retention) Run(ctx context.Context) error {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.PurgeOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PurgeOnce deletes what has passed the retention period and returns how
// many events it deleted.
func (r *Retention) PurgeOnce(ctx context.Context) int64 {
	n, err := r.DB.PurgeEvents(ctx, r.DB.Now().Add(-r.Keep), purgeBatch)
	if err != nil && ctx.Err() == nil {
		r.Log.Error("purge events", "err", err)
	}
	if n > 0 {
		r.Log.Info("purged events past the retention period", "events", n, "retention", r.Keep.String())
	}
	return n
}
