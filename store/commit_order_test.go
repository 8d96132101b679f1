package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

// TestPostgresOutOfOrderCommitIsNotSkipped makes seq 3 commit before seq 2 on
// PostgreSQL, deterministically: transaction A inserts an event (seq 2) and
// stays open while B stores one (seq 3) through the Appender and commits. A
// reader by seq would take 3, move its cursor to 3 and never see 2. EventsAfter
// holds B's event back until A ends, then returns both, A's first. It runs on
// PostgreSQL in every pass: SQLite's single writer cannot commit out of order.
func TestPostgresOutOfOrderCommitIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.URL(t)
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	a := MustAppender(t, db)
	src, _, m := mustPipeline(t, db)
	appendOne := func(id string) {
		t.Helper()
		req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"E","messageId":"`+id+`"}]}`)
		if res, err := a.Append(ctx, src.ID, received, req.Messages, nil); err != nil || res.Stored != 1 {
			t.Fatalf("append %s: %+v, %v", id, res, err)
		}
	}
	read := func(after store.Position) []*store.Event {
		t.Helper()
		es, err := db.EventsAfter(ctx, after, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	ids := func(es []*store.Event) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}

	appendOne("first")
	es := read(store.Position{})
	if got, want := ids(es), []string{"first"}; !slices.Equal(got, want) {
		t.Fatalf("before the race: got %q, want %q", got, want)
	}
	cursor := es[0].Pos()
	if err := db.SetCursor(ctx, m.ID, cursor); err != nil {
		t.Fatal(err)
	}

	// A: an event inserted (its seq taken), not committed.
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	txA, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback()
	var seqA int64
	if err := txA.QueryRowContext(ctx, `INSERT INTO events (source_id, message_id, kind, type, name, received_at, timestamp, size, body)
		VALUES ($1, 'in-flight', 'segment', 'track', 'E', 0, 0, 2, '{}') RETURNING seq`, src.ID).Scan(&seqA); err != nil {
		t.Fatal(err)
	}
	// B: a later seq, committed first.
	appendOne("committed-first")
	var seqB int64
	if err := raw.QueryRowContext(ctx, `SELECT seq FROM events WHERE message_id = 'committed-first'`).Scan(&seqB); err != nil {
		t.Fatal(err)
	}
	if seqB <= seqA {
		t.Fatalf("seqs: A %d, B %d; want B after A", seqA, seqB)
	}
	if got := read(cursor); len(got) != 0 {
		t.Fatalf("while A is open: got %q, want nothing past A's uncommitted event", ids(got))
	}

	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	es = read(cursor)
	if got, want := ids(es), []string{"in-flight", "committed-first"}; !slices.Equal(got, want) {
		t.Fatalf("after A commits: got %q, want %q, none skipped", got, want)
	}
	if es[0].Seq != seqA || es[1].Seq != seqB || !es[0].Pos().Less(es[1].Pos()) {
		t.Errorf("positions: %+v, %+v; want A's before B's", es[0].Pos(), es[1].Pos())
	}
	// The cursor moves to the last one read, never back, and nothing is left.
	if err := db.SetCursor(ctx, m.ID, es[1].Pos()); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor(ctx, m.ID, es[0].Pos()); err != nil {
		t.Fatal(err)
	}
	cursors, err := db.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cursors[m.ID], es[1].Pos(); got != want {
		t.Errorf("cursor: got %+v, want %+v", got, want)
	}
	if got := read(cursors[m.ID]); len(got) != 0 {
		t.Errorf("after the cursor: got %q, want nothing", ids(got))
	}
}

// TestConcurrentReplicasStoreOnce: two replicas (two handles, each with its
// own group commit) storing the same message ids at once, in opposite
// orders, store each once; every request succeeds.
func TestConcurrentReplicasStoreOnce(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	a1, a2 := MustAppender(t, db1), MustAppender(t, db2)
	src := MustSource(t, db1, "web")
	const rounds, n = 10, 50
	var stored, dups int
	for round := range rounds {
		var fwd, rev []string
		for i := range n {
			fwd = append(fwd, fmt.Sprintf(`{"type":"track","userId":"u","event":"E","messageId":"r%d-%d"}`, round, i))
		}
		rev = slices.Clone(fwd)
		slices.Reverse(rev)
		req1 := mustBatch(t, `{"batch":[`+strings.Join(fwd, ",")+`]}`)
		req2 := mustBatch(t, `{"batch":[`+strings.Join(rev, ",")+`]}`)
		var wg sync.WaitGroup
		var r1, r2 store.AppendResult
		var e1, e2 error
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; r1, e1 = a1.Append(ctx, src.ID, received, req1.Messages, nil) }()
		go func() { defer wg.Done(); <-start; r2, e2 = a2.Append(ctx, src.ID, received, req2.Messages, nil) }()
		close(start)
		wg.Wait()
		if e1 != nil || e2 != nil {
			t.Fatalf("round %d: %v, %v", round, e1, e2)
		}
		if got, want := r1.Stored+r2.Stored, n; got != want {
			t.Fatalf("round %d: stored %d + %d, want %d in all", round, r1.Stored, r2.Stored, want)
		}
		stored += r1.Stored + r2.Stored
		dups += r1.Duplicates + r2.Duplicates
	}
	evs, _, err := db1.ListEvents(ctx, store.EventFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(evs), rounds*n; got != want || stored != want || dups != want {
		t.Errorf("events %d, stored %d, duplicates %d; want %d each", got, stored, dups, want)
	}
}
