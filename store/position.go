package store

// Position is where the router stands in the events: every event at or
// before it has been routed. Events are read in (Xid, Seq) order.
//
// On SQLite, one writer commits in seq order, so Xid is always 0 and a
// position is a seq. On PostgreSQL, seq is taken at insert and transactions
// commit in any order: seq 11 can commit before seq 10. Each event carries
// the id of the transaction that inserted it (xid), and EventsAfter returns
// only events whose transaction is older than the oldest one still running
// (pg_snapshot_xmin of the current snapshot). Every transaction below that
// bound has finished, and every later commit has an xid at or above it, so
// an event read past is never followed by one that sorts before it: ordering
// by (xid, seq) and reading below the bound skips nothing.
type Position struct {
	Xid int64
	Seq int64
}

// SeqPosition is the position of seq on SQLite, where Xid is always 0.
func SeqPosition(seq int64) Position { return Position{Seq: seq} }

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	return p.Xid < q.Xid || p.Xid == q.Xid && p.Seq < q.Seq
}

// IsZero reports whether p is the start, before every event.
func (p Position) IsZero() bool { return p == Position{} }

// Before is the position just before p: everything before p routed, p not.
func (p Position) Before() Position { return Position{Xid: p.Xid, Seq: p.Seq - 1} }

// Max returns the later of p and q.
func (p Position) Max(q Position) Position {
	if p.Less(q) {
		return q
	}
	return p
}

// Pos is the event's position in routing order.
func (e *Event) Pos() Position { return Position{Xid: e.Xid, Seq: e.Seq} }

// The SQL of positions: a row value (xid, seq) on PostgreSQL, seq on SQLite,
// which has no xid columns.

// pos is the position expression of the events table (alias t, or none).
func (d *dialect) pos(t string) string {
	if t != "" {
		t += "."
	}
	if d.postgres {
		return "(" + t + "xid, " + t + "seq)"
	}
	return t + "seq"
}

// posOrder orders events by position.
func (d *dialect) posOrder(t string) string {
	if t != "" {
		t += "."
	}
	if d.postgres {
		return t + "xid, " + t + "seq"
	}
	return t + "seq"
}

// posParam is the placeholder of a position; posArgs its arguments.
func (d *dialect) posParam() string {
	if d.postgres {
		return "(?, ?)"
	}
	return "?"
}

func (d *dialect) posArgs(p Position) []any {
	if d.postgres {
		return []any{p.Xid, p.Seq}
	}
	return []any{p.Seq}
}

// cursorPos is the position expression of mapping_cursors (alias c, or none).
func (d *dialect) cursorPos(c string) string {
	if c != "" {
		c += "."
	}
	if d.postgres {
		return "(" + c + "routed_xid, " + c + "routed_seq)"
	}
	return c + "routed_seq"
}

// xid is an event's transaction id column: 0 on SQLite.
func (d *dialect) xid(t string) string {
	if !d.postgres {
		return "0"
	}
	if t != "" {
		t += "."
	}
	return t + "xid"
}

// committedBound is the condition that an event's transaction is older than
// every transaction still running: empty on SQLite.
func (d *dialect) committedBound(t string) string {
	if !d.postgres {
		return ""
	}
	return " AND " + d.xid(t) + " < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
}

// cursorXid is mapping_cursors' xid column: 0 on SQLite.
func (d *dialect) cursorXid() string {
	if d.postgres {
		return "routed_xid"
	}
	return "0"
}

// cursorOrder orders mapping_cursors by position.
func (d *dialect) cursorOrder(c string) string {
	if c != "" {
		c += "."
	}
	if d.postgres {
		return c + "routed_xid, " + c + "routed_seq"
	}
	return c + "routed_seq"
}

// posMax is the position after every event.
func (d *dialect) posMax() string {
	if d.postgres {
		return "(9223372036854775807, 9223372036854775807)"
	}
	return "9223372036854775807"
}
