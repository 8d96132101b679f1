package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// ErrAppenderStopped is returned by Append once the appender has stopped.
var ErrAppenderStopped = errors.New("the event writer has stopped")

// Appender stores accepted messages with group commit: requests that arrive
// while a transaction commits are written together in the next one, so one
// fsync covers many requests and throughput does not depend on one commit per
// request. Append returns only after its messages are durably committed.
type Appender struct {
	db      *DB
	reqs    chan *appendReq
	stopped chan struct{}
	commits atomic.Int64

	// MaxEvents is the most messages one commit takes (default
	// DefaultCommitMaxEvents): requests waiting beyond it go in the next
	// one. A request's messages always go in one commit. Set before Run.
	MaxEvents int
	// OnCommit, when set, is called after each commit that stored events:
	// the delivery engine's wake-up.
	OnCommit func()
}

// DefaultCommitMaxEvents is Appender.MaxEvents's default: a commit's
// statement and its memory stay bounded whatever the queue.
const DefaultCommitMaxEvents = 20000

type appendReq struct {
	sourceID string
	// writeKey, when set, must still be the source's key at the commit.
	writeKey   string
	receivedAt time.Time
	msgs       []*Message
	drops      []Drop
	done       chan appendResult
}

type appendResult struct {
	res AppendResult
	err error
}

// AppendResult tells how many messages were stored and how many were already
// stored (the same id from the same source: a client's retry).
type AppendResult struct {
	Stored     int
	Duplicates int
}

// NewAppender returns an appender; call Run to start writing.
func (db *DB) NewAppender() *Appender {
	return &Appender{db: db, reqs: make(chan *appendReq, 1024), stopped: make(chan struct{}), MaxEvents: DefaultCommitMaxEvents}
}

// Append stores the messages and counts the drops of one request, and
// returns once they are committed.
func (a *Appender) Append(ctx context.Context, sourceID string, receivedAt time.Time, msgs []*Message, drops []Drop) (AppendResult, error) {
	return a.append(ctx, &appendReq{sourceID: sourceID, receivedAt: receivedAt, msgs: msgs, drops: drops})
}

// AppendFor is Append for a request authenticated by src's write key, as
// SourceByWriteKey found it: its messages are refused (EUNAUTHORIZED) unless
// that key is still the source's when they are committed, so a key replaced
// or a source deleted on another replica stops working at once, whatever
// that lookup remembered.
func (a *Appender) AppendFor(ctx context.Context, src *Source, receivedAt time.Time, msgs []*Message, drops []Drop) (AppendResult, error) {
	return a.append(ctx, &appendReq{sourceID: src.ID, writeKey: src.WriteKey, receivedAt: receivedAt, msgs: msgs, drops: drops})
}

func (a *Appender) append(ctx context.Context, r *appendReq) (AppendResult, error) {
	r.done = make(chan appendResult, 1)
	select {
	case a.reqs <- r:
	case <-a.stopped:
		return AppendResult{}, ErrAppenderStopped
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
	// Once queued, the request is committed even if its client goes away: the
	// answer waits for the commit, so a retry finds the messages stored.
	out := <-r.done
	return out.res, out.err
}

// Run writes queued requests until ctx is cancelled, then writes whatever is
// still queued and returns. Callers stop sending (the HTTP server shuts down)
// before cancelling ctx.
func (a *Appender) Run(ctx context.Context) error {
	defer close(a.stopped)
	for {
		select {
		case r := <-a.reqs:
			a.writeBatch(a.gather(r))
		case <-ctx.Done():
			for {
				select {
				case r := <-a.reqs:
					a.writeBatch(a.gather(r))
				default:
					return nil
				}
			}
		}
	}
}

// gather adds to first every request already waiting, up to MaxEvents
// messages, without waiting for more.
func (a *Appender) gather(first *appendReq) []*appendReq {
	batch := []*appendReq{first}
	n := len(first.msgs)
	for n < a.MaxEvents {
		select {
		case r := <-a.reqs:
			batch = append(batch, r)
			n += len(r.msgs)
		default:
			return batch
		}
	}
	return batch
}

func (a *Appender) writeBatch(batch []*appendReq) {
	// The context of the write is not any request's: a request whose client
	// left must not abort the transaction of the others.
	ctx := context.Background()
	results, err := a.commitRetrying(ctx, batch)
	a.db.noteWrite(err)
	if err != nil && len(batch) > 1 && !isUnavailable(err) {
		// One request can spoil a shared transaction (its source was deleted
		// meanwhile, say): write each alone so the others still succeed.
		for _, r := range batch {
			res, err := a.commitRetrying(ctx, []*appendReq{r})
			a.db.noteWrite(err)
			r.done <- appendResult{res: res[0], err: err}
			if err == nil {
				a.committed()
			}
		}
		return
	}
	for i, r := range batch {
		r.done <- appendResult{res: results[i], err: err}
	}
	if err == nil {
		a.committed()
	}
}

// committed counts a commit that stored requests and wakes the engine.
func (a *Appender) committed() {
	a.commits.Add(1)
	if a.OnCommit != nil {
		a.OnCommit()
	}
}

// Commits is how many commits have stored requests' messages: with the
// count of messages stored, it tells how many requests share a commit.
func (a *Appender) Commits() int64 { return a.commits.Load() }

// commitRetrying commits, again when PostgreSQL chose the transaction as a
// deadlock's victim: two replicas storing the same message ids in other
// orders wait on each other's unique keys, and one of them must start over
// (it then finds the other's rows and stores them as duplicates).
func (a *Appender) commitRetrying(ctx context.Context, batch []*appendReq) ([]AppendResult, error) {
	for attempt := 1; ; attempt++ {
		results, err := a.commit(ctx, batch)
		if err == nil || !isTxConflict(err) || attempt == 5 {
			return results, err
		}
	}
}

func (a *Appender) commit(ctx context.Context, batch []*appendReq) ([]AppendResult, error) {
	if a.db.d.postgres {
		return a.commitArrays(ctx, batch)
	}
	results := make([]AppendResult, len(batch))
	tx, err := a.db.write.BeginTx(ctx, nil)
	if err != nil {
		return results, fmt.Errorf("store events: %w", err)
	}
	defer tx.Rollback()
	// Rows go in many to a statement: one call into SQLite per chunk rather
	// than per row.
	stmts := map[int]*stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for i, r := range batch {
		if r.writeKey != "" && len(r.msgs) > 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM sources WHERE id = ? AND write_key = ?`, r.sourceID, r.writeKey).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return results, errSourceGone
			}
			if err != nil {
				return results, fmt.Errorf("store events: %w", err)
			}
		}
		received := ms(r.receivedAt)
		for start := 0; start < len(r.msgs); start += insertChunk {
			chunk := r.msgs[start:min(start+insertChunk, len(r.msgs))]
			st, ok := stmts[len(chunk)]
			if !ok {
				if st, err = tx.PrepareContext(ctx, insertEventsSQL(len(chunk))); err != nil {
					return results, fmt.Errorf("store events: %w", err)
				}
				stmts[len(chunk)] = st
			}
			args := make([]any, 0, 9*len(chunk))
			for _, m := range chunk {
				args = append(args, r.sourceID, m.ID, m.Kind, m.Type, m.Name, received, ms(m.Timestamp), len(m.Body), m.Body)
			}
			res, err := st.ExecContext(ctx, args...)
			if isForeignKeyViolation(err) {
				return results, errSourceGone
			}
			if err != nil {
				return results, fmt.Errorf("store events: %w", err)
			}
			n, _ := res.RowsAffected()
			results[i].Stored += int(n)
			results[i].Duplicates += len(chunk) - int(n)
		}
		if err := countDrops(ctx, tx, r); err != nil {
			return results, err
		}
	}
	if err := tx.Commit(); err != nil {
		return results, fmt.Errorf("store events: %w", err)
	}
	return results, nil
}

// insertChunk is how many events one INSERT statement carries (9 parameters
// each, well under SQLite's limit).
const insertChunk = 100

// insertEventsSQL is the INSERT of n events; an id already stored for the
// source is skipped, which is how retries are stored once.
func insertEventsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO events (source_id, message_id, kind, type, name, received_at, timestamp, size, body) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (source_id, message_id) DO NOTHING`)
	return b.String()
}

// insertEventsArraysSQL stores the events of a whole group commit on
// PostgreSQL in one statement, a column per array: its plan is prepared once
// per connection whatever the number of rows, no row costs a parameter of its
// own, and without drops to count it runs alone, one round trip with no
// BEGIN or COMMIT. unnest yields the rows in array order, so seqs follow the
// order of the requests.
//
// events.source_id has no foreign key on PostgreSQL (migration 0015: its
// check was a trigger and a row lock per event). Instead the statement locks
// the batch's sources once each, as the check did (FOR KEY SHARE: a source's
// DELETE waits for this insert, then deletes its events), and inserts nothing
// unless every one of them still exists, with the write key each request
// came with (AppendFor; an empty key is not checked). It returns the ids it
// stored, and then each (source, key) it found, with a NULL message id.
const insertEventsArraysSQL = `WITH live AS (
		SELECT s.id FROM sources s JOIN unnest(?::text[], ?::text[]) AS k(id, key) ON s.id = k.id AND (k.key = '' OR s.write_key = k.key)
		FOR KEY SHARE OF s
	), stored AS (
		INSERT INTO events (source_id, received_at, message_id, kind, type, name, timestamp, size, body)
		SELECT * FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bytea[])
		WHERE (SELECT count(*) FROM live) = ?
		ON CONFLICT (source_id, message_id) DO NOTHING
		RETURNING source_id, message_id
	)
	SELECT source_id, message_id FROM stored
	UNION ALL SELECT id, NULL FROM live`

// errSourceGone is the error of a request whose source was deleted, or
// given a new write key, after the request found it by its key: to the
// client, the key is no longer valid (401). In a group commit it fails the
// whole batch, and writeBatch then writes each request alone, so only that
// one fails.
var errSourceGone = Errorf(EUNAUTHORIZED, "Unknown write key: it was replaced, or its source deleted.")

// commitArrays is commit on PostgreSQL: one INSERT of every request's
// events, in a transaction with the drop counts only when there are some.
func (a *Appender) commitArrays(ctx context.Context, batch []*appendReq) ([]AppendResult, error) {
	results := make([]AppendResult, len(batch))
	n, drops := 0, false
	var distinct [][2]string // the batch's sources with their requests' write keys, each once
	for _, r := range batch {
		n += len(r.msgs)
		drops = drops || len(r.drops) > 0
		if k := [2]string{r.sourceID, r.writeKey}; len(r.msgs) > 0 && !slices.Contains(distinct, k) {
			distinct = append(distinct, k)
		}
	}
	liveIDs, liveKeys := make([]string, len(distinct)), make([]string, len(distinct))
	for i, k := range distinct {
		liveIDs[i], liveKeys[i] = k[0], k[1]
	}
	sources, received := make([]string, 0, n), make([]int64, 0, n)
	ids, kinds, types, names := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	stamps, sizes, bodies := make([]int64, 0, n), make([]int64, 0, n), make([][]byte, 0, n)
	for _, r := range batch {
		at := ms(r.receivedAt)
		for _, m := range r.msgs {
			sources, received = append(sources, r.sourceID), append(received, at)
			ids, kinds, types, names = append(ids, m.ID), append(kinds, m.Kind), append(types, m.Type), append(names, m.Name)
			stamps, sizes, bodies = append(stamps, ms(m.Timestamp)), append(sizes, int64(len(m.Body))), append(bodies, m.Body)
		}
	}
	var q interface {
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	} = a.db.write
	var t *tx
	if drops {
		var err error
		if t, err = a.db.write.BeginTx(ctx, nil); err != nil {
			return results, fmt.Errorf("store events: %w", err)
		}
		defer t.Rollback()
		q = t
	}
	stored := map[[2]string]bool{}
	if n > 0 {
		rows, err := q.QueryContext(ctx, insertEventsArraysSQL, liveIDs, liveKeys, sources, received, ids, kinds, types, names, stamps, sizes, bodies, len(distinct))
		if err != nil {
			return results, fmt.Errorf("store events: %w", err)
		}
		live := 0
		for rows.Next() {
			var source string
			var id sql.NullString
			if err := rows.Scan(&source, &id); err != nil {
				rows.Close()
				return results, fmt.Errorf("store events: %w", err)
			}
			if !id.Valid {
				live++
				continue
			}
			stored[[2]string{source, id.String}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return results, fmt.Errorf("store events: %w", err)
		}
		if live < len(distinct) {
			return results, errSourceGone
		}
	}
	// Each stored id is counted once, for the first message that carried it:
	// a later one (in the same request or another of the batch) is a
	// duplicate, as it would have been in a later commit.
	for i, r := range batch {
		for _, m := range r.msgs {
			k := [2]string{r.sourceID, m.ID}
			if stored[k] {
				results[i].Stored++
				delete(stored, k)
			} else {
				results[i].Duplicates++
			}
		}
	}
	if t != nil {
		for _, r := range batch {
			if err := countDrops(ctx, t, r); err != nil {
				return results, err
			}
		}
		if err := t.Commit(); err != nil {
			return results, fmt.Errorf("store events: %w", err)
		}
	}
	return results, nil
}

// countDrops adds a request's dropped messages to its source's counts.
func countDrops(ctx context.Context, tx execer, r *appendReq) error {
	if len(r.drops) == 0 {
		return nil
	}
	byReason := map[string]int{}
	example := map[string]string{}
	for _, d := range r.drops {
		byReason[d.Reason]++
		example[d.Reason] = d.Example
	}
	for reason, n := range byReason {
		if _, err := tx.ExecContext(ctx, `INSERT INTO source_drops (source_id, reason, count, last_at, last_example) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (source_id, reason) DO UPDATE SET count = source_drops.count + excluded.count, last_at = excluded.last_at, last_example = excluded.last_example`,
			r.sourceID, reason, n, ms(r.receivedAt), example[reason]); isForeignKeyViolation(err) {
			return errSourceGone
		} else if err != nil {
			return fmt.Errorf("count dropped messages: %w", err)
		}
	}
	return nil
}
