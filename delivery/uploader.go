package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// uploader hands due deliveries to a pool of workers, round-robin across
// destinations and at most PerDestination at once for each, so one slow or
// failing destination cannot starve the others.
type uploader struct {
	e        *Engine
	mu       sync.Mutex
	inflight map[string]bool // delivery ids
	perDest  map[string]int
	free     int
}

func newUploader(e *Engine) *uploader {
	return &uploader{e: e, inflight: map[string]bool{}, perDest: map[string]int{}, free: e.cfg.Workers}
}

// run schedules until ctx is cancelled; uploads run on uctx, which outlives
// ctx by the grace period.
func (u *uploader) run(ctx, uctx context.Context) {
	jobs := make(chan *store.Delivery)
	var wg sync.WaitGroup
	for i := 0; i < u.e.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				u.e.attempt(uctx, d)
				u.mu.Lock()
				delete(u.inflight, d.ID)
				u.perDest[d.DestinationID]--
				u.free++
				u.mu.Unlock()
				wake(u.e.wakeUploader)
			}
		}()
	}
	var recovered time.Time
	for ctx.Err() == nil {
		// Any replica gives the deliveries of a dead one back to pending,
		// once their leases expired.
		if time.Since(recovered) >= u.e.cfg.RecoverEvery {
			recovered = time.Now()
			if n, err := u.e.db.RecoverUploads(ctx, u.e.db.Now()); err != nil && ctx.Err() == nil {
				u.e.log.Error("recover expired uploads", "err", err)
			} else if n > 0 {
				u.e.log.Warn("resuming uploads whose replica stopped", "deliveries", n)
			}
		}
		u.dispatch(ctx, jobs)
		wait := u.e.cfg.Poll
		if next, err := u.e.db.NextDue(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(u.e.cfg.Now()), 5*time.Millisecond))
		}
		select {
		case <-ctx.Done():
		case <-u.e.wakeUploader:
		case <-time.After(min(wait, u.e.cfg.RecoverEvery)):
		}
	}
	close(jobs)
	wg.Wait()
}

func (u *uploader) dispatch(ctx context.Context, jobs chan<- *store.Delivery) {
	u.mu.Lock()
	free := u.free
	u.mu.Unlock()
	if free == 0 {
		return
	}
	due, err := u.e.db.DueDeliveries(ctx, u.e.cfg.Now(), 500)
	if err != nil {
		if ctx.Err() == nil {
			u.e.log.Error("list due deliveries", "err", err)
		}
		return
	}
	// Round-robin: one delivery of each destination in turn, oldest first.
	byDest := map[string][]*store.Delivery{}
	var order []string
	for _, d := range due {
		if _, ok := byDest[d.DestinationID]; !ok {
			order = append(order, d.DestinationID)
		}
		byDest[d.DestinationID] = append(byDest[d.DestinationID], d)
	}
	for progress := true; progress; {
		progress = false
		for _, dest := range order {
			queue := byDest[dest]
			u.mu.Lock()
			ok := u.free > 0 && u.perDest[dest] < u.e.cfg.PerDestination
			for ok && len(queue) > 0 && u.inflight[queue[0].ID] {
				queue = queue[1:]
			}
			ok = ok && len(queue) > 0
			if ok {
				d := queue[0]
				queue = queue[1:]
				u.inflight[d.ID] = true
				u.perDest[dest]++
				u.free--
				u.mu.Unlock()
				jobs <- d
				progress = true
			} else {
				u.mu.Unlock()
			}
			byDest[dest] = queue
		}
	}
}

// attempt makes one upload attempt of a delivery and records its outcome.
func (e *Engine) attempt(ctx context.Context, d *store.Delivery) {
	// The lease covers building the file; once its size is known, upload
	// extends it to cover the request.
	build := e.attemptDeadline(d.Bytes)
	ok, err := e.db.StartAttempt(ctx, d.ID, e.cfg.Replica, e.db.Now().Add(build+e.cfg.LeaseMargin))
	if err != nil || !ok {
		if err != nil {
			e.log.Error("start upload", "delivery", d.ID, "err", err)
		}
		return
	}
	n := d.Attempts + 1
	start, began := e.cfg.Now(), time.Now()
	res, file, err := e.upload(ctx, d, build)
	a := store.Attempt{N: n, At: start, Duration: time.Since(began), OK: err == nil, HTTPStatus: res.HTTPStatus, RequestID: res.RequestID,
		Replica: e.cfg.Replica}
	out := store.AttemptOutcome{Attempt: a, Status: store.StatusDelivered}
	if file != nil {
		out.Bytes, out.Checksum, out.ContentType, out.ContentEncoding = file.size, file.checksum, file.contentType, file.contentEncoding
	}
	switch {
	case err == nil:
		// Recorded before the file is: whoever sees the file delivered sees
		// its destination's success too, not the failure before it.
		e.succeeded(ctx, d.DestinationID)
	case errors.Is(err, s3.ErrAlreadyExists):
		// Only s3relay writes this key, and only with this content: an earlier
		// attempt wrote it and stopped before recording it.
		out.Attempt.OK, out.Attempt.Code, out.Attempt.Message = true, "PreconditionFailed", "The object was already written by an earlier attempt."
		e.succeeded(ctx, d.DestinationID)
	case store.ErrorCode(err) == store.EUNAVAILABLE:
		// The server's own disk is full, or its database out of reach: not
		// the destination's fault, and never a reason to give the file up.
		code := "DiskFull"
		if store.IsDatabaseUnreachable(err) {
			code = "DatabaseUnavailable"
			e.log.Warn("upload: the database is out of reach", "delivery", d.ID, "err", err)
		}
		out.Attempt.OK, out.Attempt.Code, out.Attempt.Message = false, code, store.ErrorMessage(err)
		out.Status, out.NextAt, out.RetryingSince = store.StatusRetrying, e.cfg.Now().Add(diskFullRetry), d.RetryingSince
	default:
		f := failureOf(err)
		out.Attempt.OK, out.Attempt.Code, out.Attempt.HTTPStatus, out.Attempt.RequestID = false, f.Code, max(f.HTTPStatus, res.HTTPStatus), first(f.RequestID, res.RequestID)
		out.Attempt.Message = f.Message
		if f.Hint != "" {
			out.Attempt.Message += " — " + f.Hint
		}
		switch {
		case ctx.Err() != nil:
			// Shutdown cut the attempt short: try again at the next start.
			out.Status, out.NextAt, out.RetryingSince = store.StatusRetrying, e.cfg.Now(), d.RetryingSince
		case f.Retryable:
			e.retry(ctx, d, n, start, &out)
		default:
			out.Status = store.StatusFailed
			e.failing(ctx, d.DestinationID, store.HealthUnhealthy, out.Attempt.Code, out.Attempt.Message)
		}
	}
	// The outcome is recorded even when shutdown cancelled the upload.
	if err := e.finishAttempt(ctx, d.ID, out); err != nil {
		if store.IsLeaseLost(err) {
			e.log.Warn("upload's lease expired before its outcome was recorded; another replica uploads the file", "delivery", d.ID, "err", err)
			return
		}
		e.log.Error("record upload attempt", "delivery", d.ID, "err", err)
		return
	}
	e.metrics.deliveries.WithLabelValues(out.Status).Inc()
	if out.Status == store.StatusDelivered {
		e.metrics.latency.Observe(time.Since(d.CreatedAt).Seconds())
	}
	if out.Status != store.StatusDelivered {
		e.log.Warn("upload failed", "delivery", d.ID, "key", d.Key, "attempt", n, "status", out.Status, "code", out.Attempt.Code, "err", out.Attempt.Message)
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// permanentError is a failure found before any request: it will not go away
// by retrying.
type permanentError struct{ code, msg, hint string }

func (p *permanentError) Error() string { return p.code + ": " + p.msg }

// builtFile is an encoded file on disk (or in memory for single objects).
type builtFile struct {
	body            io.ReadSeeker
	size            int64
	checksum        string
	contentType     string
	contentEncoding string
	metadata        map[string]string
	cleanup         func()
}

// upload builds a delivery's file from its sealed events, within build, and
// writes it. Every step ends before the delivery's upload lease does.
func (e *Engine) upload(ctx context.Context, d *store.Delivery, build time.Duration) (s3.PutResult, *builtFile, error) {
	bctx, cancelBuild := context.WithTimeout(ctx, build)
	defer cancelBuild()
	dest, err := e.db.DestinationByID(bctx, d.DestinationID)
	if err != nil {
		return s3.PutResult{}, nil, err
	}
	m, err := e.db.MappingByID(bctx, d.DestinationID, d.MappingID)
	if err != nil {
		return s3.PutResult{}, nil, err
	}
	c, err := Compile(m, dest.Config)
	if err != nil {
		return s3.PutResult{}, nil, &permanentError{"InvalidMapping", err.Error(), "Fix the mapping, then retry the delivery."}
	}
	f, err := e.build(bctx, c, d)
	if err != nil {
		return s3.PutResult{}, nil, err
	}
	defer f.cleanup()
	client, err := e.clients.Client(bctx, dest.ID, S3Config(dest))
	if err != nil {
		return s3.PutResult{}, f, err
	}
	// The deadline is sized to the file, so that an S3 that accepts and never
	// answers frees the attempt's slot long before the client's own timeouts.
	limit := e.attemptDeadline(f.size)
	if err := e.db.ExtendAttempt(ctx, d.ID, e.cfg.Replica, e.db.Now().Add(limit+e.cfg.LeaseMargin)); err != nil {
		return s3.PutResult{}, f, err
	}
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := client.Put(pctx, s3.PutInput{Key: d.Key, Body: f.body, ContentType: f.contentType, ContentEncoding: f.contentEncoding, Metadata: f.metadata})
	if err != nil && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		err = &attemptTimeoutError{limit: limit, size: f.size}
	}
	return res, f, err
}

// build encodes a delivery's events, read in seq order, into a temporary
// file: memory stays bounded whatever the file's size.
func (e *Engine) build(ctx context.Context, c *Compiled, d *store.Delivery) (*builtFile, error) {
	if c.Mapping.Format == store.FormatJSON {
		var obj *builtFile
		err := e.db.DeliveryEvents(ctx, d.ID, 1, func(ev *store.Event) error {
			msg, err := decodeEvent(ev.Body)
			if err != nil {
				return err
			}
			o, err := c.Format.Object(msg, d.CreatedAt)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(o.Body)
			obj = &builtFile{body: bytes.NewReader(o.Body), size: int64(len(o.Body)), checksum: hex.EncodeToString(sum[:]),
				contentType: o.ContentType, contentEncoding: o.ContentEncoding, metadata: o.Metadata, cleanup: func() {}}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if obj == nil {
			return nil, &permanentError{"EventsPurged", "The event of this file is no longer stored.", "It was purged after the retention period; it cannot be written again."}
		}
		return obj, nil
	}
	tmp, err := os.CreateTemp(e.cfg.TempDir, "s3relay-upload-*")
	if err != nil {
		return nil, fmt.Errorf("build file: %w", err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if c.Mapping.Format == store.FormatParquet && e.cfg.ParquetRowGroupBytes > 0 {
		cc := *c
		cc.Format = c.Format.WithRowGroupBytes(e.cfg.ParquetRowGroupBytes)
		c = &cc
	}
	h := sha256.New()
	counted := 0
	// Rows are small: they reach the file through a buffer, not a write each.
	w := bufio.NewWriterSize(io.MultiWriter(tmp, h), 64<<10)
	_, err = c.encodeTo(w, d.Events, func(encode func([]byte) error) error {
		return e.db.DeliveryBodies(ctx, d.ID, func(body []byte) error {
			counted++
			return encode(body)
		})
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		cleanup()
		if counted < d.Events && ctx.Err() == nil && store.ErrorCode(err) != store.EUNAVAILABLE {
			return nil, &permanentError{"EventsPurged", fmt.Sprintf("Only %d of the file's %d events are still stored.", counted, d.Events), "Events are purged after the retention period; this file cannot be rebuilt."}
		}
		return nil, fmt.Errorf("build file: %w", err)
	}
	size, err := tmp.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("build file: %w", err)
	}
	return &builtFile{body: tmp, size: size, checksum: hex.EncodeToString(h.Sum(nil)), contentType: c.Format.ContentType(),
		contentEncoding: c.Format.ContentEncoding(), cleanup: cleanup}, nil
}
