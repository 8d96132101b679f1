package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// Races that SQLite's single writer rules out and several replicas on one
// PostgreSQL do not: each test runs two database handles (two replicas) on
// one database, many rounds released together.

const raceRounds = 15

// twoHandles opens two handles on one new database.
func twoHandles(t *testing.T) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	dsn := MustDSN(t)
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.PasswordCost = 4
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

// together runs a and b at once and returns their errors.
func together(a, b func() error) (error, error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	var ea, eb error
	wg.Add(2)
	go func() { defer wg.Done(); <-start; ea = a() }()
	go func() { defer wg.Done(); <-start; eb = b() }()
	close(start)
	wg.Wait()
	return ea, eb
}

// TestRaceDeleteUsersKeepsOne: two replicas removing the only two users at
// once cannot leave the server without an administrator.
func TestRaceDeleteUsersKeepsOne(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	for round := range raceRounds {
		users, err := db1.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for len(users) < 2 {
			u, err := db1.CreateUser(ctx, fmt.Sprintf("u%d-%d@example.com", round, len(users)), "correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			users = append(users, u)
		}
		e1, e2 := together(
			func() error { return db1.DeleteUser(ctx, users[0].ID) },
			func() error { return db2.DeleteUser(ctx, users[1].ID) })
		n, err := db1.CountUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("round %d: users after two concurrent removals: got %d (errors %v, %v), want 1", round, n, e1, e2)
		}
		if (e1 == nil) == (e2 == nil) || store.ErrorCode(firstErr(e1, e2)) != store.ECONFLICT {
			t.Fatalf("round %d: errors %v, %v; want one removal refused as a conflict", round, e1, e2)
		}
	}
}

// TestRaceFirstUserOnce: two replicas' setup pages racing create one
// administrator.
func TestRaceFirstUserOnce(t *testing.T) {
	ctx := context.Background()
	for round := range raceRounds / 3 {
		db1, db2 := twoHandles(t)
		e1, e2 := together(
			func() error { _, err := db1.CreateFirstUser(ctx, "a@example.com", "correct horse battery"); return err },
			func() error { _, err := db2.CreateFirstUser(ctx, "b@example.com", "correct horse battery"); return err })
		n, err := db1.CountUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || (e1 == nil) == (e2 == nil) || store.ErrorCode(firstErr(e1, e2)) != store.ECONFLICT {
			t.Fatalf("round %d: users %d, errors %v, %v; want 1 user and one conflict", round, n, e1, e2)
		}
	}
}

// TestRaceCreateMappingPositions: mappings created at once on two replicas
// get distinct positions (and the limit holds: it is counted the same way).
func TestRaceCreateMappingPositions(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db1.UseKeys(keys)
	db2.UseKeys(keys)
	for round := range raceRounds {
		d := validDestination()
		if err := db1.CreateDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
		m1 := &store.Mapping{DestinationID: d.ID, Name: "one", Enabled: true}
		m2 := &store.Mapping{DestinationID: d.ID, Name: "two", Enabled: true}
		e1, e2 := together(
			func() error { return db1.CreateMapping(ctx, m1) },
			func() error { return db2.CreateMapping(ctx, m2) })
		if e1 != nil || e2 != nil {
			t.Fatalf("round %d: %v, %v", round, e1, e2)
		}
		if m1.Position == m2.Position {
			t.Fatalf("round %d: both mappings got position %d", round, m1.Position)
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestRaceSealSameEventsOnce: two replicas sealing files at once, with the
// same key or sharing an event of one mapping, get one file stored and one
// conflict: the unique key and the membership's primary key decide, not a
// read before the write.
func TestRaceSealSameEventsOnce(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db1.UseKeys(keys)
	a := MustAppender(t, db1)
	src := MustSource(t, db1, "web")
	d := validDestination()
	d.Enabled, d.SourceIDs = true, []string{src.ID}
	if err := db1.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := db1.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	for round := range raceRounds {
		var batch []string
		for _, id := range []string{"a", "b", "c"} {
			batch = append(batch, fmt.Sprintf(`{"type":"track","userId":"u","event":"E","messageId":"%s%d"}`, id, round))
		}
		req := mustBatch(t, `{"batch":[`+strings.Join(batch, ",")+`]}`)
		if _, err := a.Append(ctx, src.ID, received, req.Messages, nil); err != nil {
			t.Fatal(err)
		}
		es, err := db1.EventsAfter(ctx, store.Position{}, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		sa, sb, sc := es[len(es)-3].Seq, es[len(es)-2].Seq, es[len(es)-1].Seq
		for _, tt := range []struct {
			name         string
			key1, key2   string
			seqs1, seqs2 []int64
		}{
			{"same key", fmt.Sprintf("k%d", round), fmt.Sprintf("k%d", round), []int64{sa}, []int64{sb}},
			{"shared event", fmt.Sprintf("x%d", round), fmt.Sprintf("y%d", round), []int64{sc}, []int64{sc}},
		} {
			d1 := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: tt.key1}
			d2 := &store.Delivery{DestinationID: d.ID, MappingID: m.ID, Key: tt.key2}
			e1, e2 := together(
				func() error { return db1.SealDelivery(ctx, d1, tt.seqs1, store.Position{}) },
				func() error { return db2.SealDelivery(ctx, d2, tt.seqs2, store.Position{}) })
			if (e1 == nil) == (e2 == nil) || store.ErrorCode(firstErr(e1, e2)) != store.ECONFLICT {
				t.Fatalf("round %d, %s: errors %v, %v; want one file sealed and one conflict", round, tt.name, e1, e2)
			}
		}
	}
}

// TestRaceCursorOnlyMovesForward: two replicas moving one cursor at once
// leave it at the later position, whichever commits last.
func TestRaceCursorOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db1.UseKeys(keys)
	d := validDestination()
	if err := db1.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := db1.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	for round := range int64(raceRounds) {
		low, high := store.Position{Xid: 10 * round, Seq: 100 * round}, store.Position{Xid: 10*round + 1, Seq: 100*round + 1}
		e1, e2 := together(
			func() error { return db1.SetCursor(ctx, m.ID, high) },
			func() error { return db2.SetCursor(ctx, m.ID, low) })
		if e1 != nil || e2 != nil {
			t.Fatal(e1, e2)
		}
		cs, err := db1.Cursors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := high
		if !db1.Postgres() {
			want = store.SeqPosition(high.Seq) // SQLite keeps no xid
		}
		if got := cs[m.ID]; got != want {
			t.Fatalf("round %d: cursor %+v, want %+v", round, got, want)
		}
	}
}
