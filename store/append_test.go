package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// MustAppender runs an appender for the test's duration.
func MustAppender(tb testing.TB, db *store.DB) *store.Appender {
	tb.Helper()
	a := db.NewAppender()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return a
}

// mustPipeline stores a source "web", an enabled destination it feeds and
// a mapping "m" of that destination (db needs its keys).
func mustPipeline(tb testing.TB, db *store.DB) (*store.Source, *store.Destination, *store.Mapping) {
	tb.Helper()
	ctx := context.Background()
	src := MustSource(tb, db, "web")
	d := validDestination()
	d.Enabled, d.SourceIDs = true, []string{src.ID}
	if err := db.CreateDestination(ctx, d); err != nil {
		tb.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}
	if err := db.CreateMapping(ctx, m); err != nil {
		tb.Fatal(err)
	}
	return src, d, m
}

func MustSource(tb testing.TB, db *store.DB, name string) *store.Source {
	tb.Helper()
	s := &store.Source{Name: name}
	if err := db.CreateSource(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustBatch(tb testing.TB, body string) *store.SegmentRequest {
	tb.Helper()
	req, err := store.ParseSegment([]byte(body), "batch", received)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

func TestAppendStoresOnceAndCountsDrops(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	other := MustSource(t, db, "ios")
	req := mustBatch(t, `{"batch":[
		{"type":"track","userId":"u","event":"A","messageId":"m1"},
		{"type":"track","userId":"u","event":"B","messageId":"m2"},
		{"type":"track","userId":"u","event":"B","messageId":"m2"},
		{"type":"track","userId":"u"},
		{"type":"nope","userId":"u"}]}`)
	res, err := a.Append(ctx, src.ID, received, req.Messages, req.Drops)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Duplicates != 1 {
		t.Errorf("first append = %+v, want 2 stored, 1 duplicate (same id twice in one batch)", res)
	}
	// A client's retry: the same ids again.
	if res, err = a.Append(ctx, src.ID, received, req.Messages, req.Drops); err != nil || res.Stored != 0 || res.Duplicates != 3 {
		t.Errorf("retry = %+v, %v; want nothing new stored", res, err)
	}
	// The same id from another source is another event.
	if res, err = a.Append(ctx, other.ID, received, req.Messages[:1], nil); err != nil || res.Stored != 1 {
		t.Errorf("other source = %+v, %v; want stored", res, err)
	}
	events, _, err := db.ListEvents(ctx, store.EventFilter{SourceID: src.ID})
	if err != nil || len(events) != 2 {
		t.Fatalf("events of the source = %d, %v; want 2", len(events), err)
	}
	if events[0].ID != "m2" || events[0].Name != "B" || events[0].Seq <= events[1].Seq {
		t.Errorf("newest first: got %s (seq %d) then %s (seq %d)", events[0].ID, events[0].Seq, events[1].ID, events[1].Seq)
	}
	drops, err := db.ListDrops(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, d := range drops {
		counts[d.Reason] = d.Count
		if d.Example == "" {
			t.Errorf("drop %s has no example", d.Reason)
		}
	}
	if counts[store.DropMissingEvent] != 2 || counts[store.DropUnknownType] != 2 {
		t.Errorf("drop counts = %v, want 2 of each (two requests)", counts)
	}
}

func TestAppendGroupCommitsConcurrentRequests(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	const clients, perClient = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for r := 0; r < perClient; r++ {
				body := fmt.Sprintf(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"c%d-r%d-a"},{"type":"track","userId":"u","event":"E","messageId":"c%d-r%d-b"}]}`, c, r, c, r)
				req, err := store.ParseSegment([]byte(body), "batch", time.Now())
				if err != nil {
					errs <- err
					return
				}
				if _, err := a.Append(ctx, src.ID, time.Now(), req.Messages, nil); err != nil {
					errs <- err
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last, err := db.LastSeq(ctx)
	if err != nil || last != clients*perClient*2 {
		t.Errorf("last seq = %d, %v; want %d events stored", last, err, clients*perClient*2)
	}
}

func TestAppendFailsAloneWhenItsSourceIsGone(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A"}]}`)
	// The request found its source by its write key, then the source went:
	// to the client the key is no longer valid.
	if _, err := a.Append(ctx, "src_deleted", received, req.Messages, nil); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("append to a missing source: %v, want %s", err, store.EUNAUTHORIZED)
	}
	if _, err := a.Append(ctx, "src_deleted", received, nil, []store.Drop{{Reason: "invalid", Example: "{}"}}); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("drops of a missing source: %v, want %s", err, store.EUNAUTHORIZED)
	}
	if res, err := a.Append(ctx, src.ID, received, req.Messages, nil); err != nil || res.Stored != 1 {
		t.Errorf("append after a failed one = %+v, %v", res, err)
	}
}

// queueThenRun queues each request (an Append or AppendFor call) on an
// appender that is not running yet, then runs it: they wait together, as
// requests arriving during a commit do. It returns each request's outcome,
// in order.
func queueThenRun(t *testing.T, a *store.Appender, reqs ...func(context.Context) error) []error {
	t.Helper()
	ctx := context.Background()
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = req(ctx)
		}()
		for a.Queued() < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return errs
}

// appendOne is a request of one message with its own id, for source id
// (its write key is not checked).
func appendOne(t *testing.T, a *store.Appender, sourceID string) func(context.Context) error {
	return appendOneFor(t, a, store.Source{ID: sourceID})
}

// appendOneFor is a request of one message with its own id through
// AppendFor, with src's write key (none: not checked).
func appendOneFor(t *testing.T, a *store.Appender, src store.Source) func(context.Context) error {
	req := mustBatch(t, fmt.Sprintf(`{"batch":[{"type":"track","userId":"u","event":"A","messageId":%q}]}`, store.NewID("m")))
	return func(ctx context.Context) error {
		_, err := a.AppendFor(ctx, &src, received, req.Messages, nil)
		return err
	}
}

// TestAppendCommitsWaitingRequestsTogether: requests waiting for a commit
// share the next one, up to MaxEvents messages.
func TestAppendCommitsWaitingRequestsTogether(t *testing.T) {
	db := MustOpen(t)
	src := MustSource(t, db, "web")
	for _, tc := range []struct{ maxEvents, commits int }{{store.DefaultCommitMaxEvents, 1}, {2, 2}, {1, 3}} {
		a := db.NewAppender()
		a.MaxEvents = tc.maxEvents
		woken := 0
		a.OnCommit = func() { woken++ }
		for i, err := range queueThenRun(t, a, appendOne(t, a, src.ID), appendOne(t, a, src.ID), appendOne(t, a, src.ID)) {
			if err != nil {
				t.Errorf("MaxEvents %d: request %d: %v", tc.maxEvents, i, err)
			}
		}
		if a.Commits() != int64(tc.commits) || woken != tc.commits {
			t.Errorf("MaxEvents %d: 3 waiting requests of 1 message took %d commits (%d wake-ups), want %d", tc.maxEvents, a.Commits(), woken, tc.commits)
		}
	}
}

// TestAppendSpoiledCommitStoresTheOthersAlone: a request for a deleted
// source spoils its shared commit; the others are then stored one by one,
// and the engine is woken for them.
func TestAppendSpoiledCommitStoresTheOthersAlone(t *testing.T) {
	db := MustOpen(t)
	src := MustSource(t, db, "web")
	a := db.NewAppender()
	woken := 0
	a.OnCommit = func() { woken++ }
	errs := queueThenRun(t, a, appendOne(t, a, src.ID), appendOne(t, a, "src_deleted"), appendOne(t, a, src.ID))
	if errs[0] != nil || errs[2] != nil || store.ErrorCode(errs[1]) != store.EUNAUTHORIZED {
		t.Errorf("outcomes = %v; want the deleted source's alone refused (%s)", errs, store.EUNAUTHORIZED)
	}
	if a.Commits() != 2 || woken == 0 {
		t.Errorf("%d commits, %d wake-ups; want the 2 requests stored alone and the engine woken", a.Commits(), woken)
	}
	if n, err := db.Count(context.Background(), `SELECT count(*) FROM events`); err != nil || n != 2 {
		t.Errorf("%d events stored, %v; want 2", n, err)
	}
}

// TestAppendForRefusesAReplacedWriteKey: a request found its source by a
// write key that was replaced before its commit; its messages are refused
// (401), alone in a shared commit, and the new key's are stored.
func TestAppendForRefusesAReplacedWriteKey(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	src := MustSource(t, db, "web")
	old := *src
	rotated, err := db.RotateWriteKey(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := db.NewAppender()
	errs := queueThenRun(t, a, appendOneFor(t, a, *rotated), appendOneFor(t, a, old), appendOneFor(t, a, *rotated))
	if errs[0] != nil || errs[2] != nil || store.ErrorCode(errs[1]) != store.EUNAUTHORIZED {
		t.Errorf("outcomes = %v; want the replaced key's request alone refused (%s)", errs, store.EUNAUTHORIZED)
	}
	if n, err := db.Count(ctx, `SELECT count(*) FROM events`); err != nil || n != 2 {
		t.Errorf("%d events stored, %v; want the new key's 2", n, err)
	}
}

// TestSourceByWriteKeyForgetsChangesAtOnce: the sources SourceByWriteKey
// remembers are forgotten when one changes through the same DB.
func TestSourceByWriteKeyForgetsChangesAtOnce(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	src := MustSource(t, db, "web")
	if _, err := db.SourceByWriteKey(ctx, src.WriteKey); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetAllowedOrigins(ctx, src.ID, []string{"https://shop.example.com"}); err != nil {
		t.Fatal(err)
	}
	if s, err := db.SourceByWriteKey(ctx, src.WriteKey); err != nil || !slices.Equal(s.AllowedOrigins, []string{"https://shop.example.com"}) {
		t.Errorf("after setting origins: %+v, %v", s, err)
	}
	rotated, err := db.RotateWriteKey(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SourceByWriteKey(ctx, src.WriteKey); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("old key after rotation: %v, want %s", err, store.EUNAUTHORIZED)
	}
	if _, err := db.SourceByWriteKey(ctx, rotated.WriteKey); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSource(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SourceByWriteKey(ctx, rotated.WriteKey); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("key of a deleted source: %v, want %s", err, store.EUNAUTHORIZED)
	}
}

// TestWriteKeyReplacedOnAnotherReplica: another replica (a second DB on the
// same PostgreSQL database) replaces a write key this one remembers. This
// one's lookup may still find the source for a moment, but the old key's
// messages are refused at once, and the lookup forgets it within a second.
func TestWriteKeyReplacedOnAnotherReplica(t *testing.T) {
	if backend != "postgres" {
		return // one process per SQLite file: every change is made through the one DB
	}
	ctx := context.Background()
	dsn := MustDSN(t)
	here, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	there, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer there.Close()
	src := MustSource(t, here, "web")
	if _, err := here.SourceByWriteKey(ctx, src.WriteKey); err != nil {
		t.Fatal(err)
	}
	if _, err := there.RotateWriteKey(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	a := MustAppender(t, here)
	found, err := here.SourceByWriteKey(ctx, src.WriteKey)
	if err == nil {
		req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A"}]}`)
		if _, err := a.AppendFor(ctx, found, received, req.Messages, nil); store.ErrorCode(err) != store.EUNAUTHORIZED {
			t.Errorf("append with the replaced key: %v, want %s", err, store.EUNAUTHORIZED)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := here.SourceByWriteKey(ctx, src.WriteKey)
		if store.ErrorCode(err) == store.EUNAUTHORIZED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced key still finds its source after 5 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeletingASourceDeletesItsEvents: a source's events go with it (on
// PostgreSQL a statement trigger deletes them, not a per-row foreign key),
// and no other source's.
func TestDeletingASourceDeletesItsEvents(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	gone, kept := MustSource(t, db, "gone"), MustSource(t, db, "kept")
	for _, src := range []*store.Source{gone, kept} {
		req := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"m1"},{"type":"track","userId":"u","event":"B","messageId":"m2"}]}`)
		if res, err := a.Append(ctx, src.ID, received, req.Messages, nil); err != nil || res.Stored != 2 {
			t.Fatalf("append to %s = %+v, %v", src.Name, res, err)
		}
	}
	if err := db.DeleteSource(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]int64{gone.ID: 0, kept.ID: 2} {
		if n, err := db.Count(ctx, `SELECT count(*) FROM events WHERE source_id = ?`, src); err != nil || n != want {
			t.Errorf("events of %s after deleting %s: %d, %v; want %d", src, gone.ID, n, err, want)
		}
	}
}

// TestAppendRacingASourceDeletionLeavesNoEvents: requests for a source that
// is deleted while they are written either fail or are deleted with it; none
// leaves an event behind, and requests for other sources in the same group
// commits are stored.
func TestAppendRacingASourceDeletionLeavesNoEvents(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	gone, kept := MustSource(t, db, "gone"), MustSource(t, db, "kept")
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	keptStored := 0
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				body := fmt.Sprintf(`{"batch":[{"type":"track","userId":"u","event":"A","messageId":"w%d-%d"}]}`, w, i)
				src := gone
				if i%2 == 1 {
					src = kept
				}
				res, err := a.Append(ctx, src.ID, received, mustBatch(t, body).Messages, nil)
				if src == gone && err != nil && store.ErrorCode(err) != store.EUNAUTHORIZED {
					t.Errorf("append to the deleted source: %v, want %s", err, store.EUNAUTHORIZED)
				}
				if src == kept {
					if err != nil {
						t.Errorf("append to the kept source: %v", err)
					}
					mu.Lock()
					keptStored += res.Stored
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := db.DeleteSource(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n, err := db.Count(ctx, `SELECT count(*) FROM events WHERE source_id = ?`, gone.ID); err != nil || n != 0 {
		t.Errorf("events of the deleted source: %d, %v; want 0", n, err)
	}
	if n, err := db.Count(ctx, `SELECT count(*) FROM events WHERE source_id = ?`, kept.ID); err != nil || n != int64(keptStored) || keptStored != writers*perWriter/2 {
		t.Errorf("events of the kept source: %d, %v; %d acknowledged, want %d", n, err, keptStored, writers*perWriter/2)
	}
}

func TestPurgeEventsKeepsRecentOnes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	old := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"old"}]}`)
	recent := mustBatch(t, `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"new"}]}`)
	if _, err := a.Append(ctx, src.ID, received.Add(-8*24*time.Hour), old.Messages, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, src.ID, received, recent.Messages, nil); err != nil {
		t.Fatal(err)
	}
	n, err := db.PurgeEvents(ctx, received.Add(-7*24*time.Hour), 1)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	events, _, _ := db.ListEvents(ctx, store.EventFilter{})
	if len(events) != 1 || events[0].ID != "new" {
		t.Errorf("left %d events, want only the recent one", len(events))
	}
	// After the retention window the same id is new again.
	if res, _ := a.Append(ctx, src.ID, received, old.Messages, nil); res.Stored != 1 {
		t.Errorf("re-sent purged id: %+v, want stored", res)
	}
}

func TestListEventsByMessageIDAndUserID(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := MustAppender(t, db)
	src := MustSource(t, db, "web")
	req := mustBatch(t, `{"batch":[
		{"type":"track","userId":"ann","event":"A","messageId":"m1"},
		{"type":"track","userId":"ann_b","event":"B","messageId":"m2"},
		{"type":"track","userId":"a%n","event":"C","messageId":"m3"},
		{"type":"track","anonymousId":"ann","event":"D","messageId":"m4"}]}`)
	if _, err := a.Append(ctx, src.ID, received, req.Messages, req.Drops); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    store.EventFilter
		want []string
	}{
		{store.EventFilter{MessageID: "m2"}, []string{"m2"}},
		{store.EventFilter{UserID: "ann"}, []string{"m1"}},
		{store.EventFilter{UserID: "ann_b"}, []string{"m2"}},
		// % and _ are taken literally.
		{store.EventFilter{UserID: "a%n"}, []string{"m3"}},
		{store.EventFilter{UserID: "a_n"}, nil},
		{store.EventFilter{UserID: "nobody"}, nil},
	} {
		evs, _, err := db.ListEvents(ctx, tc.f)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: got %v, want %v", tc.f, got, tc.want)
		}
	}
}
