package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// DestinationStats is the delivery activity of one destination, for the
// dashboard's overview.
type DestinationStats struct {
	DestinationID string
	// LastDeliveredAt is when the destination's latest file was written; zero
	// when none was.
	LastDeliveredAt time.Time
	// Waiting estimates the events not yet written: those in files waiting
	// for an upload or failed, plus the events of its sources that its
	// slowest enabled mapping has not yet considered. Failed files count:
	// their events are not in S3. (The 429 limit, Backlog, leaves them out.)
	Waiting int64
	// Received is how many events its sources received since the time given
	// to DestinationStats.
	Received int64
	// Failed is how many of its deliveries are failed.
	Failed int64
}

// lastDeliveredWindow is how many of a destination's newest delivered files
// are read to find the latest delivery time: a retried older file may be
// written after newer ones, but not after a hundred of them.
const lastDeliveredWindow = 100

// DestinationStats returns the delivery activity of every destination, keyed
// by destination id. Received counts the events received at or after since.
// Each figure is read with the indexes the pipeline already has, so the cost
// grows with the backlog and the recent traffic, not with the history.
func (db *DB) DestinationStats(ctx context.Context, since time.Time) (map[string]*DestinationStats, error) {
	out := map[string]*DestinationStats{}
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM destinations`)
	if err != nil {
		return nil, fmt.Errorf("destination stats: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("destination stats: %w", err)
		}
		out[id] = &DestinationStats{DestinationID: id}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("destination stats: %w", err)
	}
	failed, err := db.FailedCounts(ctx)
	if err != nil {
		return nil, err
	}
	for id, n := range failed {
		if st := out[id]; st != nil {
			st.Failed = n
		}
	}
	for id, st := range out {
		var last sql.NullInt64
		// "+status" keeps SQLite on the destination's index: the status index
		// would walk every destination's files when this one has few.
		if err := db.read.QueryRowContext(ctx, `SELECT max(delivered_at) FROM (SELECT delivered_at FROM deliveries
			WHERE destination_id = ? AND `+db.d.noIndex("status")+` = 'delivered' ORDER BY id DESC LIMIT ?) AS recent`, id, lastDeliveredWindow).Scan(&last); err != nil {
			return nil, fmt.Errorf("destination stats: %w", err)
		}
		st.LastDeliveredAt = fromNullMS(last)
	}
	if err := db.addWaiting(ctx, out); err != nil {
		return nil, err
	}
	if err := db.addReceived(ctx, out, since); err != nil {
		return nil, err
	}
	return out, nil
}

// addWaiting fills in the events waiting for each destination.
func (db *DB) addWaiting(ctx context.Context, out map[string]*DestinationStats) error {
	if err := eachRow(ctx, db.read, `SELECT destination_id, sum(events) FROM deliveries
		WHERE status IN ('pending', 'uploading', 'retrying', 'failed') AND test = 0 GROUP BY destination_id`, nil, func(id string, n int64) {
		if st := out[id]; st != nil {
			st.Waiting += n
		}
	}); err != nil {
		return fmt.Errorf("waiting events: %w", err)
	}
	// Events above a destination's slowest cursor are waiting to be routed or
	// sit in an open batch; counting them per source uses events(source_id, seq).
	return eachRow(ctx, db.read, `SELECT ds.destination_id, (SELECT count(*) FROM events e WHERE e.source_id = ds.source_id AND e.seq > cur.seq)
		FROM destination_sources ds
		JOIN (SELECT m.destination_id, min(c.routed_seq) AS seq FROM mapping_cursors c
		      JOIN mappings m ON m.id = c.mapping_id
		      JOIN destinations d ON d.id = m.destination_id
		      WHERE m.enabled = 1 AND d.enabled = 1 GROUP BY m.destination_id) cur ON cur.destination_id = ds.destination_id`, nil,
		func(id string, n int64) {
			if st := out[id]; st != nil {
				st.Waiting += n
			}
		})
}

// addReceived fills in the events each destination's sources received since.
func (db *DB) addReceived(ctx context.Context, out map[string]*DestinationStats, since time.Time) error {
	// Events are committed in the order they are received, so the first seq
	// received since then bounds a range of the events(source_id, seq) index.
	var first sql.NullInt64
	// Scanning back from the newest event stops at the first one received
	// before since: the cost is the events counted, whatever the table's size.
	err := db.read.QueryRowContext(ctx, `SELECT seq FROM events WHERE seq > coalesce(
		(SELECT seq FROM events WHERE received_at < ? ORDER BY seq DESC LIMIT 1), 0) ORDER BY seq LIMIT 1`, ms(since)).Scan(&first)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("received events: %w", err)
	}
	return eachRow(ctx, db.read, `SELECT ds.destination_id, (SELECT count(*) FROM events e WHERE e.source_id = ds.source_id AND e.seq >= ?)
		FROM destination_sources ds`, []any{first.Int64}, func(id string, n int64) {
		if st := out[id]; st != nil {
			st.Received += n
		}
	})
}

// eachRow runs a query of (id, number) rows and calls fn for each.
func eachRow(ctx context.Context, q *conn, query string, args []any, fn func(string, int64)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n sql.NullInt64
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		fn(id, n.Int64)
	}
	return rows.Err()
}

// FailedCounts returns how many failed deliveries each destination has,
// leaving out destinations with none.
func (db *DB) FailedCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	if err := eachRow(ctx, db.read, `SELECT destination_id, count(*) FROM deliveries WHERE status = 'failed' GROUP BY destination_id`, nil,
		func(id string, n int64) { out[id] = n }); err != nil {
		return nil, fmt.Errorf("failed deliveries: %w", err)
	}
	return out, nil
}

// ThroughputPoint is what was delivered in one interval.
type ThroughputPoint struct {
	Start  time.Time
	End    time.Time
	Events int64
	Files  int64
}

// throughputLookback is how long before a chart's start a delivery may have
// been created and still be counted when it is written inside the chart.
// Bounding the creation time lets the query use the time-ordered id.
const throughputLookback = 24 * time.Hour

// Throughput returns the events and files delivered in n consecutive
// intervals of length step, the first starting at start. Deliveries are
// counted by the time they were written; those created more than a day
// before start are left out, which keeps the query on the index of recent
// deliveries.
func (db *DB) Throughput(ctx context.Context, start time.Time, step time.Duration, n int) ([]ThroughputPoint, error) {
	if step <= 0 || n <= 0 {
		return nil, Errorf(EINVALID, "Throughput needs a positive interval and count.")
	}
	out := make([]ThroughputPoint, n)
	for i := range out {
		out[i].Start = start.Add(time.Duration(i) * step).UTC()
		out[i].End = out[i].Start.Add(step)
	}
	end := start.Add(time.Duration(n) * step)
	rows, err := db.read.QueryContext(ctx, `SELECT (delivered_at - ?) / ?, sum(events), count(*) FROM deliveries
		WHERE status = 'delivered' AND test = ? AND id >= ? AND delivered_at >= ? AND delivered_at < ?
		GROUP BY 1`, ms(start), step.Milliseconds(), false, idAt("dlv", start.Add(-throughputLookback)), ms(start), ms(end))
	if err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, events, files int64
		if err := rows.Scan(&i, &events, &files); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
		if i >= 0 && i < int64(n) {
			out[i].Events, out[i].Files = events, files
		}
	}
	return out, rows.Err()
}

// idAt returns the smallest identifier NewID(prefix) could make at t, as a
// lower bound for time ranges over identifiers.
func idAt(prefix string, t time.Time) string {
	var u ulid.ULID
	if t.Before(time.UnixMilli(0)) {
		t = time.UnixMilli(0)
	}
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		return prefix + "_"
	}
	return prefix + "_" + strings.ToLower(u.String())
}

// StoredEventCount returns how many of a delivery's events are still stored:
// delivered files lose their events to the retention purge, oldest first.
func (db *DB) StoredEventCount(ctx context.Context, deliveryID string) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM deliveries d
		JOIN delivery_events de ON de.mapping_id = d.mapping_id AND de.event_seq BETWEEN d.min_seq AND d.max_seq AND de.delivery_id = d.id
		JOIN events e ON e.seq = de.event_seq
		WHERE d.id = ?`, deliveryID).Scan(&n); err != nil {
		return 0, fmt.Errorf("stored events of %s: %w", deliveryID, err)
	}
	return n, nil
}

// MappingDeliveryStats is what a mapping has delivered, its test sends left out.
type MappingDeliveryStats struct {
	// Files and Events count its delivered files and their events.
	Files, Events int64
	// LastDeliveredAt is when its latest file was written; zero when none was.
	LastDeliveredAt time.Time
	// Failed counts its failed files.
	Failed int64
}

// MappingDeliveryStatsOf returns the delivery counts of each mapping of a
// destination that has delivered or failed a file, by mapping id.
func (db *DB) MappingDeliveryStatsOf(ctx context.Context, destID string) (map[string]*MappingDeliveryStats, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT mapping_id,
		coalesce(sum(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN status = ? THEN events ELSE 0 END), 0),
		coalesce(max(CASE WHEN status = ? THEN delivered_at END), 0),
		coalesce(sum(CASE WHEN status = ? THEN 1 ELSE 0 END), 0)
		FROM deliveries WHERE destination_id = ? AND test = ? GROUP BY mapping_id`,
		StatusDelivered, StatusDelivered, StatusDelivered, StatusFailed, destID, false)
	if err != nil {
		return nil, fmt.Errorf("mapping delivery stats: %w", err)
	}
	defer rows.Close()
	out := map[string]*MappingDeliveryStats{}
	for rows.Next() {
		var id string
		var last int64
		st := &MappingDeliveryStats{}
		if err := rows.Scan(&id, &st.Files, &st.Events, &last, &st.Failed); err != nil {
			return nil, fmt.Errorf("mapping delivery stats: %w", err)
		}
		if last > 0 {
			st.LastDeliveredAt = fromMS(last)
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mapping delivery stats: %w", err)
	}
	return out, nil
}
