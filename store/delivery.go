package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusUploading = "uploading"
	StatusDelivered = "delivered"
	StatusRetrying  = "retrying"
	StatusFailed    = "failed"
)

// DeliveryStatuses lists the statuses in the order of a delivery's life.
var DeliveryStatuses = []string{StatusPending, StatusUploading, StatusRetrying, StatusDelivered, StatusFailed}

// ErrCodeNoKey marks a file whose key could not be made: it is recorded as
// failed, visibly, and never written under a made-up key.
const ErrCodeNoKey = "KeyTemplate"

// Delivery is one S3 object: its key and exact membership are fixed when it
// is sealed, before the first upload attempt.
type Delivery struct {
	ID              string
	DestinationID   string
	MappingID       string
	Key             string
	Partition       string
	Status          string
	Test            bool
	Events          int
	Bytes           int64
	ContentType     string
	ContentEncoding string
	Checksum        string
	Attempts        int
	FirstEventAt    time.Time
	LastEventAt     time.Time
	CreatedAt       time.Time
	DeliveredAt     time.Time
	NextAttemptAt   time.Time
	LastError       string
	LastErrorCode   string
	// RetryingSince is when its current run of retryable failures began;
	// zero when its last attempt did not fail so. It bounds the retry window.
	RetryingSince time.Time
	// MinSeq and MaxSeq bound the seqs of its events.
	MinSeq, MaxSeq int64
	// LeaseHolder is the replica uploading it, until LeaseExpiresAt; empty
	// when it is not uploading.
	LeaseHolder    string
	LeaseExpiresAt time.Time
}

// Attempt is one upload attempt of a delivery.
type Attempt struct {
	N          int
	At         time.Time
	Duration   time.Duration
	OK         bool
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
	// Replica is the id of the replica that made the attempt.
	Replica string
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

const deliveryColumns = `id, destination_id, mapping_id, key, partition, status, test, events, bytes, content_type, content_encoding,
	checksum, attempts, first_event_at, last_event_at, created_at, delivered_at, next_attempt_at, last_error, last_error_code,
	coalesce(min_seq, 0), coalesce(max_seq, 0), retrying_since, lease_holder, lease_expires_at`

func scanDelivery(s scanner) (*Delivery, error) {
	var d Delivery
	var first, last, delivered, nextAt, since, leaseExp sql.NullInt64
	var created int64
	if err := s.Scan(&d.ID, &d.DestinationID, &d.MappingID, &d.Key, &d.Partition, &d.Status, &d.Test, &d.Events, &d.Bytes,
		&d.ContentType, &d.ContentEncoding, &d.Checksum, &d.Attempts, &first, &last, &created, &delivered, &nextAt,
		&d.LastError, &d.LastErrorCode, &d.MinSeq, &d.MaxSeq, &since, &d.LeaseHolder, &leaseExp); err != nil {
		return nil, err
	}
	d.FirstEventAt, d.LastEventAt, d.CreatedAt = fromNullMS(first), fromNullMS(last), fromMS(created)
	d.DeliveredAt, d.NextAttemptAt, d.RetryingSince = fromNullMS(delivered), fromNullMS(nextAt), fromNullMS(since)
	d.LeaseExpiresAt = fromNullMS(leaseExp)
	return &d, nil
}

// SealDelivery stores a new delivery with its exact membership and, in the
// same transaction, moves the mapping's cursor to cursor (unless zero). A
// key or an event already sealed for the mapping is an ECONFLICT: nothing is
// written, so no event can be in two files of one mapping.
func (db *DB) SealDelivery(ctx context.Context, d *Delivery, seqs []int64, cursor Position) error {
	return db.SealDeliveries(ctx, []Seal{{Delivery: d, Seqs: seqs}}, map[string]Position{d.MappingID: cursor})
}

// Seal is one new delivery and the seqs of its events.
type Seal struct {
	Delivery *Delivery
	Seqs     []int64
}

// SealDeliveries stores new deliveries with their exact memberships and
// moves the given mappings' cursors (a zero one stays where it is), all in
// one transaction: one commit for the files a router chunk filled rather
// than one each. It is all or nothing, with SealDelivery's conflicts.
func (db *DB) SealDeliveries(ctx context.Context, seals []Seal, cursors map[string]Position) error {
	for _, s := range seals {
		db.prepareSeal(s.Delivery, s.Seqs)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seal delivery: %w", err)
	}
	defer tx.Rollback()
	if err := db.checkFence(ctx, tx); err != nil {
		return err
	}
	for _, s := range seals {
		if err := db.insertDelivery(ctx, tx, s.Delivery, s.Seqs); err != nil {
			return err
		}
	}
	for id, c := range cursors {
		if !c.IsZero() {
			if err := db.setCursor(ctx, tx, id, c); err != nil {
				return err
			}
		}
	}
	// Every replica may upload them: wake the others' uploaders.
	if err := db.notify(ctx, tx, DeliveriesChannel); err != nil {
		return fmt.Errorf("seal delivery: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seal delivery: %w", err)
	}
	return nil
}

// prepareSeal fills in a new delivery's defaults and its seq range.
func (db *DB) prepareSeal(d *Delivery, seqs []int64) {
	if d.ID == "" {
		d.ID = NewID("dlv")
	}
	if d.Status == "" {
		d.Status = StatusPending
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = db.Now()
	}
	if d.NextAttemptAt.IsZero() && d.Status == StatusPending {
		d.NextAttemptAt = d.CreatedAt
	}
	d.Events = max(d.Events, len(seqs))
	for i, seq := range seqs {
		if i == 0 || seq < d.MinSeq {
			d.MinSeq = seq
		}
		d.MaxSeq = max(d.MaxSeq, seq)
	}
}

// insertDelivery writes one delivery row and its membership.
func (db *DB) insertDelivery(ctx context.Context, tx *tx, d *Delivery, seqs []int64) error {
	var minSeq, maxSeq any
	if len(seqs) > 0 {
		minSeq, maxSeq = d.MinSeq, d.MaxSeq
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, destination_id, mapping_id, key, partition, status, test, events, bytes,
		content_type, content_encoding, checksum, attempts, first_event_at, last_event_at, created_at, delivered_at, next_attempt_at,
		last_error, last_error_code, min_seq, max_seq, lease_holder, lease_expires_at, attempt_started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.DestinationID, d.MappingID, d.Key, d.Partition, d.Status, d.Test, d.Events, d.Bytes, d.ContentType, d.ContentEncoding,
		d.Checksum, d.Attempts, nullMS(d.FirstEventAt), nullMS(d.LastEventAt), ms(d.CreatedAt), nullMS(d.DeliveredAt),
		nullMS(d.NextAttemptAt), d.LastError, d.LastErrorCode, minSeq, maxSeq, d.LeaseHolder, nullMS(d.LeaseExpiresAt), leaseStart(d))
	if err != nil {
		if isUniqueViolation(err) {
			return &Error{Code: ECONFLICT, Field: "key", Message: fmt.Sprintf("Another file of this destination already has the key %q.", d.Key)}
		}
		return fmt.Errorf("seal delivery: %w", err)
	}
	return insertMembership(ctx, tx, db.d, d, seqs)
}

// leaseStart is when the attempt of a delivery sealed as uploading (a test
// send) began.
func leaseStart(d *Delivery) any {
	if d.Status != StatusUploading {
		return nil
	}
	return ms(d.CreatedAt)
}

// insertMembership records which file each event is in. PostgreSQL takes the
// seqs as one array parameter (one cached plan whatever the count); SQLite
// many rows to a statement, one call into SQLite per chunk rather than per
// event.
func insertMembership(ctx context.Context, tx *tx, dl *dialect, d *Delivery, seqs []int64) error {
	conflict := func(err error) error {
		if isUniqueViolation(err) {
			return Errorf(ECONFLICT, "An event of this file is already in another file of its mapping.")
		}
		return fmt.Errorf("seal delivery: %w", err)
	}
	if dl.postgres {
		if len(seqs) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO delivery_events (mapping_id, event_seq, delivery_id)
			SELECT ?, unnest(?::bigint[]), ?`, d.MappingID, seqs, d.ID)
		if err != nil {
			return conflict(err)
		}
		return nil
	}
	for start := 0; start < len(seqs); start += membershipChunk {
		chunk := seqs[start:min(start+membershipChunk, len(seqs))]
		q := `INSERT INTO delivery_events (mapping_id, event_seq, delivery_id) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(chunk)), ",")
		args := make([]any, 0, 3*len(chunk))
		for _, seq := range chunk {
			args = append(args, d.MappingID, seq, d.ID)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return conflict(err)
		}
	}
	return nil
}

// membershipChunk is how many events one membership INSERT carries.
const membershipChunk = 500

func (db *DB) setCursor(ctx context.Context, tx execer, mappingID string, p Position) error {
	// A cursor only moves forward.
	q := `INSERT INTO mapping_cursors (mapping_id, routed_seq) VALUES (?, ?)
		ON CONFLICT (mapping_id) DO UPDATE SET routed_seq = excluded.routed_seq WHERE mapping_cursors.routed_seq < excluded.routed_seq`
	if db.d.postgres {
		q = `INSERT INTO mapping_cursors (mapping_id, routed_xid, routed_seq) VALUES (?, ?, ?)
		ON CONFLICT (mapping_id) DO UPDATE SET routed_xid = excluded.routed_xid, routed_seq = excluded.routed_seq
		WHERE (mapping_cursors.routed_xid, mapping_cursors.routed_seq) < (excluded.routed_xid, excluded.routed_seq)`
	}
	if _, err := tx.ExecContext(ctx, q, append([]any{mappingID}, db.d.posArgs(p)...)...); err != nil {
		return fmt.Errorf("move cursor: %w", err)
	}
	return nil
}

// SetCursor moves a mapping's cursor forward to p. Under Fenced, it
// returns ECONFLICT with field "lease" when the lease was lost.
func (db *DB) SetCursor(ctx context.Context, mappingID string, p Position) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("move cursor: %w", err)
	}
	defer tx.Rollback()
	if err := db.checkFence(ctx, tx); err != nil {
		return err
	}
	if err := db.setCursor(ctx, tx, mappingID, p); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("move cursor: %w", err)
	}
	return nil
}

// Cursors returns every mapping's cursor.
func (db *DB) Cursors(ctx context.Context) (map[string]Position, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT mapping_id, `+db.d.cursorXid()+`, routed_seq FROM mapping_cursors`)
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	defer rows.Close()
	out := map[string]Position{}
	for rows.Next() {
		var id string
		var p Position
		if err := rows.Scan(&id, &p.Xid, &p.Seq); err != nil {
			return nil, fmt.Errorf("cursors: %w", err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// SealedAfter returns the events after p that are already sealed into a
// file of the mapping, by seq with their positions: after a restart, the
// engine must not route them again.
func (db *DB) SealedAfter(ctx context.Context, mappingID string, p Position) (map[int64]Position, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT de.event_seq, `+db.d.xid("e")+` FROM delivery_events de
		JOIN events e ON e.seq = de.event_seq
		WHERE de.mapping_id = ? AND `+db.d.pos("e")+` > `+db.d.posParam(), append([]any{mappingID}, db.d.posArgs(p)...)...)
	if err != nil {
		return nil, fmt.Errorf("sealed events: %w", err)
	}
	defer rows.Close()
	out := map[int64]Position{}
	for rows.Next() {
		var ep Position
		if err := rows.Scan(&ep.Seq, &ep.Xid); err != nil {
			return nil, fmt.Errorf("sealed events: %w", err)
		}
		out[ep.Seq] = ep
	}
	return out, rows.Err()
}

// EventsAfter returns up to limit events after p, in position order (see
// Position): on PostgreSQL, only those whose transaction is older than every
// transaction still running, so that none committing later sorts before
// them. Without withBody their bodies are left out: routing by the type,
// name and source columns does not need them.
func (db *DB) EventsAfter(ctx context.Context, p Position, limit int, withBody bool) ([]*Event, error) {
	cols := eventColumns
	if !withBody {
		cols = strings.Replace(eventColumns, "body", db.d.emptyBlob(), 1)
	}
	args := append(db.d.posArgs(p), limit)
	rows, err := db.read.QueryContext(ctx, `SELECT `+cols+`, `+db.d.xid("")+` FROM events
		WHERE `+db.d.pos("")+` > `+db.d.posParam()+db.d.committedBound("")+`
		ORDER BY `+db.d.posOrder("")+` LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("events after: %w", err)
	}
	defer rows.Close()
	var es []*Event
	for rows.Next() {
		var e Event
		var received, ts int64
		var body []byte
		if err := rows.Scan(&e.Seq, &e.ID, &e.SourceID, &e.Kind, &e.Type, &e.Name, &received, &ts, &e.Size, &body, &e.Xid); err != nil {
			return nil, fmt.Errorf("events after: %w", err)
		}
		e.ReceivedAt, e.Timestamp, e.Body = fromMS(received), fromMS(ts), body
		es = append(es, &e)
	}
	return es, rows.Err()
}

// EventBodies fills in the bodies of events read without them.
func (db *DB) EventBodies(ctx context.Context, es []*Event) error {
	if len(es) == 0 {
		return nil
	}
	// Events come in position order, which is not seq order on PostgreSQL.
	byID := make(map[int64]*Event, len(es))
	lo, hi := es[0].Seq, es[0].Seq
	for _, e := range es {
		byID[e.Seq] = e
		lo, hi = min(lo, e.Seq), max(hi, e.Seq)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT seq, body FROM events WHERE seq BETWEEN ? AND ?`, lo, hi)
	if err != nil {
		return fmt.Errorf("event bodies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return fmt.Errorf("event bodies: %w", err)
		}
		if e := byID[seq]; e != nil {
			e.Body = body
		}
	}
	return rows.Err()
}

// DeliveryEvents calls fn for each stored event of a delivery, in seq order,
// reading them as it goes so that a large file never sits in memory. Events
// purged after the retention period are skipped: compare the count with
// Delivery.Events.
func (db *DB) DeliveryEvents(ctx context.Context, deliveryID string, limit int, fn func(*Event) error) error {
	return db.deliveryRows(ctx, deliveryID, limit, prefixed("e.", eventColumns), func(s scanner) error {
		e, err := scanEvent(s)
		if err != nil {
			return fmt.Errorf("delivery events: %w", err)
		}
		return fn(e)
	})
}

// DeliveryBodies is DeliveryEvents for callers that need only the stored
// messages, as the file encoder does: it reads nothing else. body is valid
// only during the call.
func (db *DB) DeliveryBodies(ctx context.Context, deliveryID string, fn func(body []byte) error) error {
	return db.deliveryRows(ctx, deliveryID, 0, "e.body", func(s scanner) error {
		var body sql.RawBytes
		if err := s.Scan(&body); err != nil {
			return fmt.Errorf("delivery events: %w", err)
		}
		return fn(body)
	})
}

func (db *DB) deliveryRows(ctx context.Context, deliveryID string, limit int, cols string, each func(scanner) error) error {
	var mappingID string
	var lo, hi sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT mapping_id, min_seq, max_seq FROM deliveries WHERE id = ?`, deliveryID).Scan(&mappingID, &lo, &hi)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "Delivery not found.")
	}
	if err != nil {
		return fmt.Errorf("delivery events: %w", err)
	}
	if !lo.Valid {
		return nil // a test delivery: its event was never stored
	}
	q := `SELECT ` + cols + ` FROM delivery_events de JOIN events e ON e.seq = de.event_seq
		WHERE de.mapping_id = ? AND de.event_seq BETWEEN ? AND ? AND de.delivery_id = ? ORDER BY de.event_seq`
	args := []any{mappingID, lo.Int64, hi.Int64, deliveryID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("delivery events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DueDeliveries returns deliveries waiting for an upload attempt whose time
// has come, oldest first. Replicas may list the same ones: StartAttempt's
// conditional UPDATE gives each to one of them. (A FOR UPDATE SKIP LOCKED
// here would hold its locks only for this one autocommit SELECT: the claim
// is the UPDATE, which waits for nobody but a concurrent claim of the same
// row, and then finds it taken.)
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*Delivery, error) {
	return db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, ms(now), limit)
}

// NextDue returns when the next waiting delivery is due; zero when none waits.
func (db *DB) NextDue(ctx context.Context) (time.Time, error) {
	var n sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'retrying')`).Scan(&n); err != nil {
		return time.Time{}, fmt.Errorf("next due: %w", err)
	}
	return fromNullMS(n), nil
}

func (db *DB) queryDeliveries(ctx context.Context, q string, args ...any) ([]*Delivery, error) {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var ds []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// StartAttempt claims a waiting delivery for replica until until: it marks
// it uploading, leased to replica, and counts the attempt, in one
// conditional UPDATE, so that two replicas never both claim it. It returns
// false when the delivery was not waiting (another worker or replica took
// it, or a user changed it). The attempt must end before until: after it,
// any replica may give the delivery to another (RecoverUploads).
func (db *DB) StartAttempt(ctx context.Context, id, replica string, until time.Time) (bool, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET status = 'uploading', attempts = attempts + 1,
		lease_holder = ?, lease_expires_at = ?, attempt_started_at = ?
		WHERE id = ? AND status IN ('pending', 'retrying')`, replica, ms(until), ms(db.Now()), id)
	if err != nil {
		return false, fmt.Errorf("start attempt: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ExtendAttempt moves the lease of replica's attempt of a delivery to
// until, once the file's size tells how long its upload may take. Returns
// ECONFLICT with field "lease" when replica no longer holds it.
func (db *DB) ExtendAttempt(ctx context.Context, id, replica string, until time.Time) error {
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET lease_expires_at = ?
		WHERE id = ? AND status = 'uploading' AND lease_holder = ? AND lease_expires_at > ?`, ms(until), id, replica, ms(db.Now()))
	if err != nil {
		return fmt.Errorf("extend attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return &Error{Code: ECONFLICT, Field: "lease", Message: fmt.Sprintf("Replica %s no longer holds the upload of %s.", replica, id)}
	}
	return nil
}

// RecoverUploads returns to pending the deliveries whose upload lease
// expired at now, and those leased to one of dead (earlier incarnations of
// this process), recording each interrupted attempt with the replica that
// made it. It returns how many it recovered.
func (db *DB) RecoverUploads(ctx context.Context, now time.Time, dead ...string) (int64, error) {
	where, args := `status = 'uploading' AND (lease_expires_at <= ?`, []any{ms(now)}
	for _, h := range dead {
		where, args = where+` OR lease_holder = ?`, append(args, h)
	}
	where += `)`
	// The read comes first: most passes find nothing, and a read does not
	// queue behind the single writer.
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM deliveries WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("recover uploads: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("recover uploads: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("recover uploads: %w", err)
	}
	var n int64
	for _, id := range ids {
		ok, err := db.recoverUpload(ctx, id, now, where, args)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (db *DB) recoverUpload(ctx context.Context, id string, now time.Time, where string, args []any) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("recover upload: %w", err)
	}
	defer tx.Rollback()
	var holder string
	var attempts int
	var started sql.NullInt64
	// The condition is read again in the write transaction: the attempt may
	// have finished, or its lease moved, since the list was read.
	err = tx.QueryRowContext(ctx, `SELECT lease_holder, attempts, attempt_started_at FROM deliveries WHERE id = ? AND `+where,
		append([]any{id}, args...)...).Scan(&holder, &attempts, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recover upload: %w", err)
	}
	at := fromNullMS(started)
	if at.IsZero() {
		at = now
	}
	who := holder
	if who == "" {
		who = "an earlier s3relay"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (delivery_id, n, at, duration_ms, ok, http_status, code, message, request_id, replica)
		VALUES (?, ?, ?, ?, ?, 0, 'Interrupted', ?, '', ?)`, id, attempts, ms(at), max(now.Sub(at).Milliseconds(), 0), false,
		fmt.Sprintf("Replica %s stopped before recording this attempt's outcome; the file is uploaded again.", who), holder); err != nil {
		return false, fmt.Errorf("recover upload: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_holder = '', lease_expires_at = NULL,
		last_error = 'Interrupted: its replica stopped during the upload.', last_error_code = 'Interrupted' WHERE id = ?`, ms(now), id); err != nil {
		return false, fmt.Errorf("recover upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("recover upload: %w", err)
	}
	return true, nil
}

// AttemptOutcome is what an upload attempt changes in its delivery.
type AttemptOutcome struct {
	Attempt Attempt
	Status  string // delivered, retrying or failed
	NextAt  time.Time
	// RetryingSince is when the delivery's run of retryable failures began,
	// kept while it retries or once it failed; a delivery clears it.
	RetryingSince time.Time
	Bytes         int64
	// Checksum, ContentType and ContentEncoding describe the uploaded file.
	Checksum, ContentType, ContentEncoding string
}

// FinishAttempt records an attempt and its delivery's new status. It is
// fenced on the attempt's replica: unless that replica still holds the
// delivery's upload lease, nothing is written and it returns ECONFLICT with
// field "lease" (the delivery was given to another replica meanwhile).
func (db *DB) FinishAttempt(ctx context.Context, id string, o AttemptOutcome) error {
	a := o.Attempt
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish attempt: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (delivery_id, n, at, duration_ms, ok, http_status, code, message, request_id, replica)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, a.N, ms(a.At), a.Duration.Milliseconds(), a.OK, a.HTTPStatus, a.Code, a.Message, a.RequestID, a.Replica); err != nil {
		return fmt.Errorf("finish attempt: %w", err)
	}
	var delivered, nextAt, since any
	if o.Status == StatusDelivered {
		delivered = ms(a.At.Add(a.Duration))
	}
	if o.Status == StatusRetrying {
		nextAt = ms(o.NextAt)
	}
	if !o.RetryingSince.IsZero() && o.Status != StatusDelivered {
		since = ms(o.RetryingSince)
	}
	lastErr, lastCode := a.Message, a.Code
	if a.OK {
		lastErr, lastCode = "", ""
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, delivered_at = ?, next_attempt_at = ?, last_error = ?, last_error_code = ?,
		retrying_since = ?, lease_holder = '', lease_expires_at = NULL,
		bytes = CASE WHEN ? > 0 THEN ? ELSE bytes END,
		checksum = CASE WHEN ? <> '' THEN ? ELSE checksum END,
		content_type = CASE WHEN ? <> '' THEN ? ELSE content_type END,
		content_encoding = CASE WHEN ? <> '' THEN ? ELSE content_encoding END
		WHERE id = ? AND status = 'uploading' AND lease_holder = ?`, o.Status, delivered, nextAt, lastErr, lastCode, since, o.Bytes, o.Bytes, o.Checksum, o.Checksum,
		o.ContentType, o.ContentType, o.ContentEncoding, o.ContentEncoding, id, a.Replica)
	if err != nil {
		return fmt.Errorf("finish attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return &Error{Code: ECONFLICT, Field: "lease", Message: fmt.Sprintf("Replica %q no longer holds the upload of %s: its outcome is not recorded.", a.Replica, id)}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish attempt: %w", err)
	}
	return nil
}

// DeliveryFilter selects deliveries for the history page and API.
type DeliveryFilter struct {
	DestinationID string
	MappingID     string
	Status        string
	Since, Until  time.Time
	// HideTest leaves test sends out.
	HideTest bool
	// KeyContains keeps the deliveries whose object key holds this text.
	KeyContains string
	Page
}

// ListDeliveries returns one page of deliveries, newest first, and the cursor
// of the next page. Keyset pagination on the time-ordered id keeps every page
// as fast as the first, whatever the size of the history.
func (db *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if f.Status != "" && !contains(DeliveryStatuses, f.Status) {
		return nil, "", FieldErrorf("status", "status must be one of %s.", strings.Join(DeliveryStatuses, ", "))
	}
	where, args := []string{"id < ?"}, []any{f.before()}
	if f.DestinationID != "" {
		where, args = append(where, "destination_id = ?"), append(args, f.DestinationID)
	}
	if f.MappingID != "" {
		where, args = append(where, "mapping_id = ?"), append(args, f.MappingID)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, ms(f.Until))
	}
	if f.HideTest {
		where = append(where, "test = ?")
		args = append(args, false)
	}
	if f.KeyContains != "" {
		// LIKE with its wildcards escaped: a plain substring, in both dialects.
		pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.KeyContains) + "%"
		where, args = append(where, `key LIKE ? ESCAPE '\'`), append(args, pattern)
	}
	ds, err := db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
	}
	ds, cursor := next(ds, f.Limit, func(d *Delivery) string { return d.ID })
	return ds, cursor, nil
}

// DeliveryByID returns a delivery and its attempt log. Returns ENOTFOUND.
func (db *DB) DeliveryByID(ctx context.Context, id string) (*Delivery, []Attempt, error) {
	d, err := scanDelivery(db.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, Errorf(ENOTFOUND, "Delivery not found.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get delivery: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT n, at, duration_ms, ok, http_status, code, message, request_id, replica
		FROM delivery_attempts WHERE delivery_id = ? ORDER BY n, id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("get delivery: %w", err)
	}
	defer rows.Close()
	as := []Attempt{}
	for rows.Next() {
		var a Attempt
		var at, dur int64
		if err := rows.Scan(&a.N, &at, &dur, &a.OK, &a.HTTPStatus, &a.Code, &a.Message, &a.RequestID, &a.Replica); err != nil {
			return nil, nil, fmt.Errorf("get delivery: %w", err)
		}
		a.At, a.Duration = fromMS(at), time.Duration(dur)*time.Millisecond
		as = append(as, a)
	}
	return d, as, rows.Err()
}

// RetryDelivery makes a failed or retrying delivery due now. Returns
// ENOTFOUND, or ECONFLICT when the delivery is not failed or retrying.
func (db *DB) RetryDelivery(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, retrying_since = NULL
		WHERE id = ? AND status IN ('failed', 'retrying') AND test = 0 AND last_error_code <> ?`, ms(db.Now()), id, ErrCodeNoKey)
	if err != nil {
		return fmt.Errorf("retry delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		d, _, err := db.DeliveryByID(ctx, id)
		if err != nil {
			return err
		}
		if d.Test {
			return Errorf(ECONFLICT, "Test deliveries are not retried: send a new test event.")
		}
		if d.LastErrorCode == ErrCodeNoKey {
			return Errorf(ECONFLICT, "This file never got a key (its mapping's key template failed for its event), so it cannot be written.")
		}
		return Errorf(ECONFLICT, "Only failed or retrying deliveries can be retried; this one is %s.", d.Status)
	}
	return nil
}

// RekeyDelivery gives a file that never got a key (ErrCodeNoKey) the key
// made for it now, and makes it due. Returns ECONFLICT with field "key" when
// another file of the destination has that key, ECONFLICT when the delivery
// is not such a file, ENOTFOUND.
func (db *DB) RekeyDelivery(ctx context.Context, id, key string) error {
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET key = ?, status = 'pending', next_attempt_at = ?, last_error = '', last_error_code = '',
		retrying_since = NULL WHERE id = ? AND status = 'failed' AND last_error_code = ?`, key, ms(db.Now()), id, ErrCodeNoKey)
	if isUniqueViolation(err) {
		return &Error{Code: ECONFLICT, Field: "key", Message: fmt.Sprintf("Another file of this destination already has the key %q.", key)}
	}
	if err != nil {
		return fmt.Errorf("name delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, _, err := db.DeliveryByID(ctx, id); err != nil {
			return err
		}
		return Errorf(ECONFLICT, "Only a failed file that never got a key can be given one.")
	}
	return nil
}

// KeylessDeliveries returns the ids of a destination's failed files that
// never got a key, oldest first.
func (db *DB) KeylessDeliveries(ctx context.Context, destinationID string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM deliveries WHERE destination_id = ? AND status = 'failed' AND last_error_code = ? ORDER BY id`,
		destinationID, ErrCodeNoKey)
	if err != nil {
		return nil, fmt.Errorf("keyless deliveries: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("keyless deliveries: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RetryFailed makes every failed delivery of a destination due now and
// returns how many there were.
func (db *DB) RetryFailed(ctx context.Context, destinationID string) (int64, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, retrying_since = NULL
		WHERE destination_id = ? AND status = 'failed' AND test = 0 AND last_error_code <> ?`, ms(db.Now()), destinationID, ErrCodeNoKey)
	if err != nil {
		return 0, fmt.Errorf("retry failed deliveries: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// WakeRetrying makes a destination's retrying deliveries that wait for a
// later attempt due at once, after one of its uploads succeeded: the outage
// they wait out is over. Each becomes due at its creation time, so that the
// uploader, which takes due work oldest first, catches up in order. It
// returns how many it woke.
func (db *DB) WakeRetrying(ctx context.Context, destinationID string, now time.Time) (int64, error) {
	// The read comes first: most successes find nothing waiting, and a read
	// does not queue behind the single writer.
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE destination_id = ? AND status = 'retrying' AND next_attempt_at > ? LIMIT 1`,
		destinationID, ms(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wake retrying deliveries: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = `+db.d.least("created_at", "?")+`
		WHERE destination_id = ? AND status = 'retrying' AND next_attempt_at > ?`, ms(now), destinationID, ms(now))
	if err != nil {
		return 0, fmt.Errorf("wake retrying deliveries: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// NextDueOf returns when the destination's next waiting delivery other than
// except is due; zero when none waits.
func (db *DB) NextDueOf(ctx context.Context, destinationID, except string) (time.Time, error) {
	var n sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM deliveries
		WHERE destination_id = ? AND status IN ('pending', 'retrying') AND id <> ?`, destinationID, except).Scan(&n); err != nil {
		return time.Time{}, fmt.Errorf("next due: %w", err)
	}
	return fromNullMS(n), nil
}

// DeliveriesOfEvent returns the deliveries (files) that hold the event with
// seq, newest first: one at most per mapping.
func (db *DB) DeliveriesOfEvent(ctx context.Context, seq int64) ([]*Delivery, error) {
	// Through mappings, so that each lookup uses delivery_events' primary key.
	return db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id IN (
		SELECT de.delivery_id FROM mappings m JOIN delivery_events de ON de.mapping_id = m.id AND de.event_seq = ?)
		ORDER BY id DESC`, seq)
}
