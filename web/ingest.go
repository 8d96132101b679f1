package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// Appender stores accepted messages durably; Append returns once they are
// committed.
type Appender interface {
	AppendFor(ctx context.Context, src *store.Source, receivedAt time.Time, msgs []*store.Message, drops []store.Drop) (store.AppendResult, error)
}

// Backlogger tells how many stored events still wait for delivery.
type Backlogger interface {
	Backlog(ctx context.Context) (int64, error)
}

// backlogRetryAfter is the Retry-After of a 429 answered past the backlog limit.
const backlogRetryAfter = 10 * time.Second

// backlogCache keeps the backlog figure for a second, so that the check on
// every ingestion request costs no query.
type backlogCache struct {
	src     Backlogger
	mu      sync.Mutex
	value   atomic.Int64
	checked atomic.Int64 // Unix ms of the last refresh
}

func (b *backlogCache) get(ctx context.Context, now time.Time) (int64, error) {
	if now.UnixMilli()-b.checked.Load() < 1000 {
		return b.value.Load(), nil
	}
	// One request refreshes; the others use the figure they find.
	if !b.mu.TryLock() {
		return b.value.Load(), nil
	}
	defer b.mu.Unlock()
	n, err := b.src.Backlog(ctx)
	if err != nil {
		return 0, err
	}
	b.value.Store(n)
	b.checked.Store(now.UnixMilli())
	return n, nil
}

// handleSegment returns the handler of one endpoint of the Segment API:
// "track", ..., or "batch".
func (s *Server) handleSegment(endpoint string) echo.HandlerFunc {
	limit := int64(store.MaxMessageBytes)
	if endpoint == "batch" {
		limit = store.MaxBatchBytes
	}
	return func(c echo.Context) error {
		receivedAt := s.db.Now()
		body, err := readIngestBody(c.Request(), limit)
		if err != nil {
			return err
		}
		key, _, hasBasic := c.Request().BasicAuth()
		var src *store.Source
		if hasBasic {
			if src, err = s.sourceByWriteKey(c, key); err != nil {
				return err
			}
		}
		req, perr := store.ParseSegment(body, endpoint, receivedAt)
		if src == nil {
			// No Basic auth: the key may be in the body, as analytics-node sends it.
			if perr != nil || req.WriteKey == "" {
				return store.Errorf(store.EUNAUTHORIZED, "Missing write key: send it as the HTTP Basic user name, or as \"writeKey\" in the body.")
			}
			if src, err = s.sourceByWriteKey(c, req.WriteKey); err != nil {
				return err
			}
		}
		if perr != nil {
			return perr
		}
		if err := s.store(c, src, receivedAt, req.Messages, req.Drops); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]bool{"success": true})
	}
}

// handlePublish is the Outpost-style publish API.
func (s *Server) handlePublish(c echo.Context) error {
	receivedAt := s.db.Now()
	key, ok := bearer(c.Request())
	if !ok {
		return store.Errorf(store.EUNAUTHORIZED, "Missing write key: send Authorization: Bearer <write key>.")
	}
	src, err := s.sourceByWriteKey(c, key)
	if err != nil {
		return err
	}
	body, err := readIngestBody(c.Request(), store.MaxMessageBytes)
	if err != nil {
		return err
	}
	msg, err := store.ParsePublish(body, receivedAt)
	if err != nil {
		return err
	}
	if err := s.store(c, src, receivedAt, []*store.Message{msg}, nil); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"id": msg.ID})
}

func (s *Server) sourceByWriteKey(c echo.Context, key string) (*store.Source, error) {
	if key == "" {
		return nil, store.Errorf(store.EUNAUTHORIZED, "Missing write key.")
	}
	src, err := s.db.SourceByWriteKey(c.Request().Context(), key)
	if err != nil {
		return nil, err
	}
	return src, s.allowOrigin(c, src)
}

// store commits accepted messages, refusing them with 429 while the backlog
// is past its limit: the client keeps them and retries.
func (s *Server) store(c echo.Context, src *store.Source, receivedAt time.Time, msgs []*store.Message, drops []store.Drop) error {
	if s.cfg.MaxBacklog > 0 && len(msgs) > 0 {
		n, err := s.backlog.get(c.Request().Context(), receivedAt)
		if err != nil {
			return err
		}
		if n >= s.cfg.MaxBacklog {
			s.ingestRefused.Add(float64(len(msgs)))
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(backlogRetryAfter.Seconds())))
			return echo.NewHTTPError(http.StatusTooManyRequests, "Delivery is behind: "+strconv.FormatInt(n, 10)+" events wait. Retry later.")
		}
	}
	res, err := s.events.AppendFor(c.Request().Context(), src, receivedAt, msgs, drops)
	if err != nil {
		return err
	}
	s.eventsStored.Add(float64(res.Stored))
	s.eventsDuplicate.Add(float64(res.Duplicates))
	for _, d := range drops {
		s.eventsDropped.WithLabelValues(d.Reason).Inc()
	}
	return nil
}

// readIngestBody reads a request body of at most limit bytes after
// decompression. Limits are enforced while reading, so a gzip bomb is refused
// after limit bytes rather than inflated in full.
func readIngestBody(r *http.Request, limit int64) ([]byte, error) {
	// The compressed size is bounded too; gzip adds a little to data that does
	// not compress, hence the slack.
	raw := io.LimitReader(r.Body, limit+4096+1)
	var rd io.Reader = raw
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, store.Errorf(store.EINVALID, "The body says Content-Encoding: gzip but is not a gzip stream.")
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, store.Errorf(store.EINVALID, "Content-Encoding %q is not supported: send gzip or no encoding.", enc)
	}
	// Read into a buffer sized from Content-Length when it is honest and
	// small, rather than growing one from 512 bytes.
	// (MinRead more, so that reading the final EOF does not grow it again).
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), limit+1)+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(rd, limit+1))
	b := buf.Bytes()
	if int64(len(b)) > limit {
		if rd != raw {
			return nil, store.Errorf(store.EINVALID, "The body is larger than %d bytes after decompression.", limit)
		}
		return nil, store.Errorf(store.EINVALID, "The body is larger than %d bytes.", limit)
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			return nil, store.Errorf(store.EINVALID, "The gzip stream is damaged or cut short.")
		}
		return nil, store.Errorf(store.EINVALID, "Could not read the request body: %v.", err)
	}
	return b, nil
}
