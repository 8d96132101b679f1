package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// CodeAttemptTimeout is the code of an upload attempt that passed its
// deadline: S3 accepted the connection but did not finish in time.
const CodeAttemptTimeout = "AttemptTimeout"

// attemptTimeoutError is an upload that passed the deadline sized to its file.
type attemptTimeoutError struct {
	limit time.Duration
	size  int64
}

func (t *attemptTimeoutError) Error() string {
	return fmt.Sprintf("S3 did not finish the upload within %s, the deadline for a file of %s.", t.limit.Round(time.Millisecond), humanize.IBytes(uint64(t.size)))
}

// attemptDeadline is how long an upload of size bytes may take: a base for
// the round trips, plus the bytes at a conservative throughput, capped.
func (e *Engine) attemptDeadline(size int64) time.Duration {
	d := e.cfg.AttemptTimeout + time.Duration(float64(max(size, 0))/float64(e.cfg.MinThroughput)*float64(time.Second))
	return min(d, e.cfg.AttemptTimeoutMax)
}

// failureOf classifies an upload error once: S3's own, or one s3relay found
// before or around the request.
func failureOf(err error) *s3.Failure {
	var perm *permanentError
	if errors.As(err, &perm) {
		return &s3.Failure{Code: perm.code, Message: perm.msg, Hint: perm.hint}
	}
	var timeout *attemptTimeoutError
	if errors.As(err, &timeout) {
		return &s3.Failure{Retryable: true, Code: CodeAttemptTimeout, Message: timeout.Error(),
			Hint: "S3 accepted the request but did not answer in time; the file is retried."}
	}
	return s3.Classify(err)
}

// retry decides what follows an attempt that failed for a retryable reason:
// another attempt after a capped backoff while the delivery's retry window
// lasts, else failed. start is when the attempt began, on the engine's clock.
func (e *Engine) retry(ctx context.Context, d *store.Delivery, n int, start time.Time, out *store.AttemptOutcome) {
	now := e.cfg.Now()
	since := d.RetryingSince
	if since.IsZero() {
		since = start
	}
	out.RetryingSince = since
	end := since.Add(e.cfg.RetryFor)
	switch {
	case e.cfg.MaxAttempts > 0 && n >= e.cfg.MaxAttempts:
		out.Status = store.StatusFailed
		out.Attempt.Message = fmt.Sprintf("Gave up after %d attempts (the --max-attempts limit): %s", n, out.Attempt.Message)
	case !now.Before(end):
		out.Status = store.StatusFailed
		out.Attempt.Message = fmt.Sprintf("Gave up after retrying for %s (%d attempts): %s", e.cfg.RetryFor, n, out.Attempt.Message)
	default:
		next := now.Add(Backoff(n, e.cfg.BackoffBase, e.cfg.BackoffMax, jitter()))
		// The window's last attempt is made at its end, not skipped.
		next = earliest(next, end)
		// However long the backoff, the destination gets an attempt within
		// Probe: the first one to succeed wakes the others.
		if other, err := e.db.NextDueOf(ctx, d.DestinationID, d.ID); err == nil && (other.IsZero() || other.After(now.Add(e.cfg.Probe))) {
			next = earliest(next, now.Add(e.cfg.Probe))
		}
		if e.succeededSince(d.DestinationID, start) {
			// Another upload got through while this one failed: the wake
			// that success made may have come before this outcome.
			next = now
		}
		out.Status, out.NextAt = store.StatusRetrying, next
		e.failing(ctx, d.DestinationID, store.HealthRetrying, out.Attempt.Code, out.Attempt.Message)
		return
	}
	e.failing(ctx, d.DestinationID, store.HealthUnhealthy, out.Attempt.Code, out.Attempt.Message)
}

// succeeded records that an upload to a destination worked: it is healthy,
// and its deliveries waiting out a backoff go now, since what they waited
// for is over.
func (e *Engine) succeeded(ctx context.Context, destID string) {
	e.healthMu.Lock()
	e.lastOK[destID] = e.cfg.Now()
	e.healthMu.Unlock()
	if err := e.db.MarkHealthy(ctx, destID); err != nil {
		e.log.Error("record destination health", "destination", destID, "err", err)
	}
	// Checked on every success, not only when the health changes: another
	// attempt of the destination may have failed while this one ran.
	n, err := e.db.WakeRetrying(ctx, destID, e.cfg.Now())
	if err != nil {
		e.log.Error("wake retrying deliveries", "destination", destID, "err", err)
		return
	}
	if n > 0 {
		e.log.Info("destination recovered: retrying its waiting deliveries now", "destination", destID, "deliveries", n)
		wake(e.wakeUploader)
	}
}

// failing records a failed attempt of a destination: health is
// store.HealthRetrying or store.HealthUnhealthy.
func (e *Engine) failing(ctx context.Context, destID, health, code, msg string) {
	if err := e.db.RecordFailure(ctx, destID, health, code, msg); err != nil {
		e.log.Error("record destination health", "destination", destID, "err", err)
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// succeededSince tells whether an upload to the destination succeeded at or
// after t.
func (e *Engine) succeededSince(destID string, t time.Time) bool {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	ok, found := e.lastOK[destID]
	return found && !ok.Before(t)
}
