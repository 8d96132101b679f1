package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	// Workers is the number of concurrent uploads (default 8).
	Workers int
	// PerDestination caps the uploads of one destination, so that a slow or
	// failing destination never takes every worker (default 4).
	PerDestination int
	// RetryFor is how long a delivery whose attempts fail for a retryable
	// reason keeps being retried, from its first such failure, before it is
	// failed (default 24h, as Firehose).
	RetryFor time.Duration
	// MaxAttempts, when above 0, also fails a delivery after that many
	// attempts, even inside RetryFor. 0 (the default) sets no attempt limit.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the wait between attempts (1s, 5m).
	BackoffBase, BackoffMax time.Duration
	// Probe is the longest a retrying destination goes without an attempt:
	// whatever the backoff, one of its waiting deliveries is due within
	// Probe, and its success wakes the others (default 10s).
	Probe time.Duration
	// AttemptTimeout and MinThroughput size each upload attempt's deadline:
	// AttemptTimeout plus the file's bytes at MinThroughput bytes a second,
	// at most AttemptTimeoutMax (15s, 1 MiB/s, 1h). A hung S3 then frees
	// the attempt's slot, and the timeout is a retryable failure.
	AttemptTimeout    time.Duration
	MinThroughput     int64
	AttemptTimeoutMax time.Duration
	// Now is the engine's clock for scheduling attempts and the retry
	// window (default the database's, DB.Now: on PostgreSQL every replica's
	// due times then compare alike).
	Now func() time.Time
	// Poll is how often the engine looks for work when nothing woke it (1s).
	Poll time.Duration
	// Reload is how often the router reloads every mapping and destination
	// whatever happened (2s); a change to any of them, made on any replica,
	// is seen sooner, by a cheap version check every 200ms.
	Reload time.Duration
	// Grace is how long in-flight uploads may take to finish on shutdown (20s).
	Grace time.Duration
	// TempDir holds files while they upload (default os.TempDir()).
	TempDir string
	// Replica is this process's id among the replicas sharing the database:
	// it holds leases and is recorded with each upload attempt (default
	// DefaultReplicaID()).
	Replica string
	// Version is the build's version, recorded with the replica (settings
	// page, GET /api/v1/replicas).
	Version string
	// Previous lists the ids of this process's earlier incarnations (dead):
	// at start their leases are released at once, not after expiry, so a
	// restarted single node resumes its uploads promptly.
	Previous []string
	// LeaseTTL is how long the router lease lasts without renewal, and
	// LeaseRenew how often its holder renews it (6s, 2s): a dead router is
	// replaced within LeaseTTL+LeaseRenew.
	LeaseTTL, LeaseRenew time.Duration
	// LeaseMargin is how long an upload's lease outlives the attempt's own
	// deadline (5s): the attempt has ended, by its context, before another
	// replica may take the delivery. RecoverEvery is how often the engine
	// looks for expired upload leases (2s).
	LeaseMargin, RecoverEvery time.Duration
	// NotifyEvery is the least time between two notifications a replica
	// that does not route sends the router's replica for the events it
	// committed (25ms, PostgreSQL only): commits in between are told by the
	// next one.
	NotifyEvery time.Duration
	// ParquetRowGroupBytes is the size of a parquet file's values at which
	// it starts another row group (default format.DefaultRowGroupBytes).
	ParquetRowGroupBytes int64
}

// DefaultReplicaID is the host name and a short random suffix, new at each
// start.
func DefaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "s3relay"
	}
	return fmt.Sprintf("%s-%04x", host, rand.N(1<<16))
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.PerDestination <= 0 {
		c.PerDestination = 4
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 24 * time.Hour
	}
	c.MaxAttempts = max(c.MaxAttempts, 0)
	if c.Probe <= 0 {
		c.Probe = 10 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 15 * time.Second
	}
	if c.MinThroughput <= 0 {
		c.MinThroughput = 1 << 20
	}
	if c.AttemptTimeoutMax <= 0 {
		c.AttemptTimeoutMax = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Reload <= 0 {
		c.Reload = 2 * time.Second
	}
	if c.NotifyEvery <= 0 {
		c.NotifyEvery = 25 * time.Millisecond
	}
	if c.Grace <= 0 {
		c.Grace = 20 * time.Second
	}
	if c.Replica == "" {
		c.Replica = DefaultReplicaID()
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 6 * time.Second
	}
	if c.LeaseRenew <= 0 {
		c.LeaseRenew = 2 * time.Second
	}
	if c.LeaseMargin <= 0 {
		c.LeaseMargin = 5 * time.Second
	}
	if c.RecoverEvery <= 0 {
		c.RecoverEvery = 2 * time.Second
	}
}

// Engine routes committed events to mappings, seals them into files,
// uploads the files and retries failures. Run it with Run.
type Engine struct {
	db      *store.DB
	clients *s3.Factory
	log     *slog.Logger
	cfg     Config

	wakeRouter   chan struct{}
	wakeUploader chan struct{}
	// routing is whether this replica held the router lease when its
	// router last took or renewed it (the router's goroutine sets it); while
	// another does, committed asks notifyCommits to tell it of new events.
	routing   atomic.Bool
	committed chan struct{}

	metrics *metrics

	healthMu sync.Mutex
	lastOK   map[string]time.Time // destination id -> its latest successful upload here
}

// New returns an engine. clients is shared with the connection test, so one
// S3 client serves each destination.
func New(db *store.DB, clients *s3.Factory, log *slog.Logger, cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return db.Now() }
	}
	cfg.defaults()
	return &Engine{
		db: db, clients: clients, log: log, cfg: cfg,
		wakeRouter:   make(chan struct{}, 1),
		wakeUploader: make(chan struct{}, 1),
		committed:    make(chan struct{}, 1),
		metrics:      newMetrics(db),
		lastOK:       map[string]time.Time{},
	}
}

// Replica returns the engine's replica id.
func (e *Engine) Replica() string { return e.cfg.Replica }

// Collectors returns the engine's Prometheus metrics.
func (e *Engine) Collectors() []prometheus.Collector { return e.metrics.collectors() }

// Notify tells the engine that new events were committed. On PostgreSQL,
// while another replica routes, that replica is told too.
func (e *Engine) Notify() {
	wake(e.wakeRouter)
	if e.db.Postgres() && !e.routing.Load() {
		wake(e.committed)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run routes and uploads until ctx is cancelled. On cancel it routes every
// event committed so far and seals the open batches (so nothing waits in
// memory), lets in-flight uploads finish within the grace period, and
// returns; what is left is resumed by the next Run. Cancel ctx once no more
// events are committed (the event writer has stopped).
func (e *Engine) Run(ctx context.Context) error {
	// Leases of this process's earlier incarnations are released now: they
	// are dead, and waiting for their expiry would only delay the restart.
	// Those of other replicas are left to expire.
	for _, prev := range e.cfg.Previous {
		if err := e.db.ReleaseLeasesOf(ctx, prev); err != nil {
			return err
		}
		// This process replaces it in the list of replicas too.
		if prev != e.cfg.Replica {
			if err := e.db.ForgetReplica(ctx, prev); err != nil {
				return err
			}
		}
	}
	if n, err := e.db.RecoverUploads(ctx, e.db.Now(), e.cfg.Previous...); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting (PostgreSQL reports the cancelled connect)
		}
		return err
	} else if n > 0 {
		e.log.Info("resuming uploads interrupted by the last stop", "deliveries", n)
	}
	hbDone := make(chan struct{})
	go func() { e.heartbeat(ctx); close(hbDone) }()
	defer func() { <-hbDone }()
	// Uploads run on their own context: cancelling ctx stops new work, and
	// in-flight uploads get the grace period before this one is cancelled.
	uctx, cancelUploads := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelUploads()
	up := newUploader(e)
	upDone := make(chan struct{})
	go func() { up.run(ctx, uctx); close(upDone) }()
	// Files sealed by another replica's router wake this one's uploader, so
	// uploads spread over the replicas rather than wait for a poll.
	// Events committed here wake the router of the replica that routes.
	if e.db.Postgres() {
		go e.listen(ctx)
		go e.notifyCommits(ctx)
	}

	// Every router write is fenced on the router lease.
	rctx := store.Fenced(ctx, store.RouterLease, e.cfg.Replica)
	r := newRouter(e)
	err := r.run(rctx)

	// Graceful stop: events committed up to now (the writer has stopped)
	// are routed, open batches become pending deliveries, then uploads in
	// flight get the grace period.
	sealCtx, cancel := context.WithTimeout(context.WithoutCancel(rctx), e.cfg.Grace)
	defer cancel()
	// Only the router lease's holder routes: another replica's router
	// routes what this one's writer committed.
	if e.routing.Load() {
		if derr := r.drain(sealCtx); derr != nil {
			e.log.Error("route committed events on shutdown; they are routed at the next start", "err", derr)
		}
		if serr := r.sealAll(sealCtx); serr != nil {
			e.log.Error("seal open batches on shutdown", "err", serr)
		}
		// Released, another replica takes over at once.
		if lerr := e.db.ReleaseLease(sealCtx, store.RouterLease, e.cfg.Replica); lerr != nil {
			e.log.Error("release the router lease", "err", lerr)
		}
	}
	select {
	case <-upDone:
	case <-time.After(e.cfg.Grace):
		e.log.Warn("uploads still running after the grace period; they resume at the next start")
		cancelUploads()
		<-upDone
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// heartbeat records this replica as running every store.ReplicaHeartbeat
// until ctx ends, then records its stop.
func (e *Engine) heartbeat(ctx context.Context) {
	started := e.db.Now()
	failing := false
	t := time.NewTicker(store.ReplicaHeartbeat)
	defer t.Stop()
	for {
		err := e.db.RecordReplica(ctx, e.cfg.Replica, e.cfg.Version, started)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			e.log.Warn("could not record this replica as running; trying again every 5s (logged once until it works)", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := e.db.ReplicaStopped(sctx, e.cfg.Replica); err != nil {
				e.log.Warn("record this replica's stop", "err", err)
			}
			return
		case <-t.C:
		}
	}
}

// jitter is the random part of the backoff.
func jitter() float64 { return rand.Float64() }

// listen keeps a LISTEN for sealed files and, while this replica routes,
// for other replicas' events open until ctx ends. A failed connection is
// logged (once until one works again) and opened again a second later, with
// a wake-up, as a notification may have been missed; meanwhile the uploader
// and the router poll.
func (e *Engine) listen(ctx context.Context) {
	failing := false
	heard := func(channel string) {
		switch channel {
		case store.DeliveriesChannel:
			wake(e.wakeUploader)
		case store.EventsChannel:
			// Another replica's router does not route: it would only look
			// for its lease again.
			if e.routing.Load() {
				wake(e.wakeRouter)
			}
		}
	}
	for ctx.Err() == nil {
		start := time.Now()
		err := e.db.Listen(ctx, heard, store.DeliveriesChannel, store.EventsChannel)
		if err == nil {
			return
		}
		if time.Since(start) > time.Minute {
			failing = false // it worked for a while: a new failure is news
		}
		if !failing {
			e.log.Warn("listening for other replicas' files failed; polling until it works again", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
			heard(store.DeliveriesChannel)
			heard(store.EventsChannel)
		}
	}
}

// notifyCommits tells the router's replica of events committed here, at
// most once per NotifyEvery: each notification is a transaction of its own,
// and one per group commit would cost the database more than the router's
// promptness is worth. A failed one is logged (once until one works again);
// the router finds the events at its next poll.
func (e *Engine) notifyCommits(ctx context.Context) {
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.committed:
		}
		if err := e.db.NotifyEvents(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				e.log.Warn("telling the routing replica of new events failed; it finds them at its next poll", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.cfg.NotifyEvery):
		}
	}
}

// filesSealed wakes the uploaders for files the router sealed. On
// PostgreSQL the seal's NOTIFY wakes every replica's, this one's included,
// at about the same moment, so that the files spread over the replicas
// rather than go to the router's own uploader first; on SQLite there is
// only this one.
func (e *Engine) filesSealed() {
	if !e.db.Postgres() {
		wake(e.wakeUploader)
	}
}

// Wake tells the engine that deliveries became due (a user asked for a retry).
func (e *Engine) Wake() { wake(e.wakeUploader) }
