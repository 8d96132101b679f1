package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is a stored message.
type Event struct {
	Seq int64 // insertion order; the events page's cursor
	// Xid is the inserting transaction's id on PostgreSQL (0 on SQLite); with
	// Seq, the event's Position in the router's order. Set by EventsAfter.
	Xid        int64
	ID         string
	SourceID   string
	Kind       string
	Type       string
	Name       string
	ReceivedAt time.Time
	Timestamp  time.Time
	Size       int // bytes of Body, also when Body was not read
	Body       json.RawMessage
}

// EventFilter selects events for the events page and API.
type EventFilter struct {
	SourceID string
	Type     string
	// MessageID and UserID keep the events with that message id or userId.
	MessageID string
	UserID    string
	Limit     int
	// Before returns events with a smaller seq (the next page); 0 for the newest.
	Before int64
	// After returns only events with a larger seq (live refresh); 0 for all.
	After int64
}

// ParseEventCursor reads an event cursor from a query string value.
func ParseEventCursor(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, FieldErrorf(field, "%s must be a cursor returned by this API.", field)
	}
	return n, nil
}

const eventColumns = `seq, message_id, source_id, kind, type, name, received_at, timestamp, size, body`

func scanEvent(s scanner) (*Event, error) {
	var e Event
	var received, ts int64
	var body []byte
	if err := s.Scan(&e.Seq, &e.ID, &e.SourceID, &e.Kind, &e.Type, &e.Name, &received, &ts, &e.Size, &body); err != nil {
		return nil, err
	}
	e.ReceivedAt, e.Timestamp, e.Body = fromMS(received), fromMS(ts), body
	return &e, nil
}

// ListEvents returns the most recent events first, and the cursor of the next
// page ("" on the last).
func (db *DB) ListEvents(ctx context.Context, f EventFilter) ([]*Event, string, error) {
	p := Page{Limit: f.Limit}
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	q, args := db.d.eventsQuery(f, p.Limit+1)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var es []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	es, cursor := next(es, p.Limit, func(e *Event) string { return strconv.FormatInt(e.Seq, 10) })
	return es, cursor, nil
}

// eventsQuery is the query of ListEvents for at most limit events.
func (d *dialect) eventsQuery(f EventFilter, limit int) (string, []any) {
	var where []string
	var args []any
	if f.SourceID != "" {
		where, args = append(where, "source_id = ?"), append(args, f.SourceID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.MessageID != "" {
		where, args = append(where, "message_id = ?"), append(args, f.MessageID)
	}
	if f.UserID != "" {
		// The stored body is compact JSON written by encoding/json, so a
		// userId appears exactly as this text; a substring match keeps the
		// query the same in both dialects (no JSON functions).
		uid, _ := json.Marshal(f.UserID)
		// The pattern is bytes (the body is BLOB/BYTEA), and its escape
		// character is "!": a backslash is not a valid bytea literal.
		pattern := `%"userId":` + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(string(uid)) + "%"
		where, args = append(where, d.bytesLike("body")), append(args, []byte(pattern))
	}
	if f.Before > 0 {
		where, args = append(where, "seq < ?"), append(args, f.Before)
	}
	if f.After > 0 {
		where, args = append(where, "seq > ?"), append(args, f.After)
	}
	q := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return q + ` ORDER BY seq DESC LIMIT ?`, append(args, limit)
}

// EventBySeq returns one event. Returns ENOTFOUND.
func (db *DB) EventBySeq(ctx context.Context, seq int64) (*Event, error) {
	e, err := scanEvent(db.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Event not found: it may have been purged after the retention period.")
	}
	if err != nil {
		return nil, fmt.Errorf("get event: %w", err)
	}
	return e, nil
}

// DropCount is how many messages of a source were dropped for one reason.
type DropCount struct {
	SourceID string
	Reason   string
	Count    int64
	LastAt   time.Time
	Example  string
}

// ListDrops returns the dropped-message counts, per source and reason.
func (db *DB) ListDrops(ctx context.Context, sourceID string) ([]DropCount, error) {
	q := `SELECT source_id, reason, count, last_at, last_example FROM source_drops`
	var args []any
	if sourceID != "" {
		q, args = q+` WHERE source_id = ?`, append(args, sourceID)
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY last_at DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list drops: %w", err)
	}
	defer rows.Close()
	var ds []DropCount
	for rows.Next() {
		var d DropCount
		var last int64
		if err := rows.Scan(&d.SourceID, &d.Reason, &d.Count, &last, &d.Example); err != nil {
			return nil, fmt.Errorf("list drops: %w", err)
		}
		d.LastAt = fromMS(last)
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// PurgeEvents deletes, oldest first and in small transactions so that
// ingestion is never held up for long, the events received before cutoff
// that no delivery still needs: every mapping has moved past them, and no
// file waiting to be written (or failed, waiting for a retry) holds them.
// It returns how many were deleted.
func (db *DB) PurgeEvents(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		// Events are committed in about the order they are received, so the
		// oldest seqs are the candidates; the batch stops at the first event
		// still needed.
		// On PostgreSQL the cursors are positions: the events at or before the
		// earliest cursor, in position order.
		res, err := db.write.ExecContext(ctx, `DELETE FROM events WHERE seq IN (
			SELECT seq FROM events
			WHERE `+db.d.pos("")+` <= coalesce((SELECT `+db.d.cursorPos("c")+` FROM mapping_cursors c
			              JOIN mappings m ON m.id = c.mapping_id
			              JOIN destinations d ON d.id = m.destination_id
			              WHERE m.enabled = 1 AND d.enabled = 1
			              ORDER BY `+db.d.cursorOrder("c")+` LIMIT 1), `+db.d.posMax()+`)
			  AND seq < coalesce((SELECT min(min_seq) FROM deliveries WHERE status <> 'delivered' AND test = 0), 9223372036854775807)
			ORDER BY `+db.d.posOrder("")+` LIMIT ?) AND received_at < ?`, batch, ms(cutoff))
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(batch) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, nil
		default:
		}
	}
}

// LastSeq returns the seq of the newest event, 0 when there is none.
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return n.Int64, nil
}

// Backlog estimates how many stored events still wait for delivery: those
// past the cursor of the enabled mapping that is furthest behind, plus those
// sealed into files not yet written. Failed files (retried for the whole
// retry window, or failed for good) are left out, so that they never hold
// ingestion back with 429s; the dashboard's backlog (DestinationStats)
// counts them. It is 0 when nothing is set up to deliver.
func (db *DB) Backlog(ctx context.Context) (int64, error) {
	var routing, sealed sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT (SELECT coalesce(max(seq), 0) FROM events) - min(c.routed_seq)
		   FROM mapping_cursors c
		   JOIN mappings m ON m.id = c.mapping_id
		   JOIN destinations d ON d.id = m.destination_id
		  WHERE m.enabled = 1 AND d.enabled = 1),
		(SELECT sum(events) FROM deliveries WHERE status IN ('pending', 'uploading', 'retrying') AND test = 0)`).Scan(&routing, &sealed)
	if err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	return max(routing.Int64, 0) + sealed.Int64, nil
}
