package delivery

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/s3relay/s3relay/store"
)

// routeChunk is how many events the router reads at a time.
const routeChunk = 2000

// versionEvery is how often the router asks whether a mapping or a
// destination changed (on any replica), to reload them at once: a new
// mapping gets its first events in a fraction of a second, not at the next
// full reload (Config.Reload).
const versionEvery = 200 * time.Millisecond

// router assigns committed events to the open batches of matching mappings
// and seals batches into deliveries. One goroutine runs it.
type router struct {
	e         *Engine
	mappings  map[string]*mstate
	refreshed time.Time
	// version is the store's routing version at the last refresh, checked
	// at versionChecked.
	version        string
	versionChecked time.Time
	// renewed is when this replica last took or renewed the router lease
	// (Engine.routing); lost is set by a write the lease's fence refused.
	renewed time.Time
	lost    bool
}

// mstate is the router's state of one active mapping.
type mstate struct {
	c       *Compiled
	version string
	destID  string
	sources map[string]bool
	// cursor is the persisted cursor: every event at or before it is sealed
	// or did not match. routed is how far the router has looked; the events
	// in between are in open batches. Positions, not seqs: see store.Position.
	cursor store.Position
	routed store.Position
	// sealedAhead holds events after the cursor already sealed into files
	// (by an earlier run), by seq: they must not be routed again.
	sealedAhead map[int64]store.Position
	open        map[string]*batch
	// full holds batches ready to seal (full or past their age), out of
	// open: sealFull seals them together, in one transaction.
	full []*batch
}

// batch is an open file: events chosen, not yet sealed. Only seqs are kept,
// so memory stays small whatever the backlog.
type batch struct {
	partition string
	// from is the position of the batch's first event, its earliest.
	from          store.Position
	seqs          []int64
	bytes         int64
	firstReceived time.Time
	first, last   time.Time
	sample        *store.Event
	sampleMsg     map[string]any
}

func newRouter(e *Engine) *router {
	return &router{e: e, mappings: map[string]*mstate{}}
}

func (r *router) run(ctx context.Context) error {
	for {
		if !r.lead(ctx) {
			// Another replica routes: look again when it may have died.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(r.e.cfg.LeaseRenew):
			}
			continue
		}
		if r.refreshDue(ctx) {
			if err := r.refresh(ctx); err != nil && ctx.Err() == nil {
				r.e.log.Error("load mappings", "err", err)
			}
		}
		n, err := r.routeChunk(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.e.log.Error("route events", "err", err)
			}
			// A chunk routed halfway leaves open batches that do not match the
			// cursors: start again from what is persisted, where sealed events
			// are known and skipped. Also when ctx ended it: drain starts
			// from there.
			r.reset()
		}
		caughtUp := n < routeChunk
		sealFailed := false
		if caughtUp {
			sealFailed = r.sealExpired(ctx)
		}
		r.saveCursors(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !caughtUp && err == nil {
			continue
		}
		wait := r.e.cfg.Poll
		// A seal that failed (a full disk) is tried again at the next poll,
		// not in a loop on its passed deadline.
		if d, ok := r.nextDeadline(); ok && !sealFailed {
			wait = min(wait, max(time.Until(d), 5*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.e.wakeRouter:
		case <-time.After(wait):
		}
	}
}

// lead takes or renews the router lease when due, and reports whether this
// replica holds it. On losing it, the open batches are dropped: the new
// holder routes their events from the persisted cursors.
func (r *router) lead(ctx context.Context) bool {
	if r.lost {
		r.lost, r.renewed = false, time.Time{}
		if r.e.routing.Load() {
			r.e.log.Warn("lost the router lease; another replica routes", "replica", r.e.cfg.Replica)
			r.e.routing.Store(false)
			r.reset()
		}
	}
	leader := r.e.routing.Load()
	if leader && time.Since(r.renewed) < r.e.cfg.LeaseRenew {
		return true
	}
	ok, err := r.e.db.AcquireLease(ctx, store.RouterLease, r.e.cfg.Replica, r.e.cfg.LeaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			r.e.log.Error("renew the router lease", "err", err)
		}
		// Not known to be lost: the fence refuses writes once it is.
		return leader
	}
	switch {
	case ok && !leader:
		r.e.log.Info("took the router lease", "replica", r.e.cfg.Replica)
		r.reset()
	case !ok && leader:
		r.e.log.Warn("lost the router lease; another replica routes", "replica", r.e.cfg.Replica)
		r.reset()
	}
	r.e.routing.Store(ok)
	if ok {
		r.renewed = time.Now()
	}
	return ok
}

// reset forgets the open batches and the mappings: the next refresh starts
// again from the persisted cursors.
func (r *router) reset() {
	r.mappings, r.refreshed = map[string]*mstate{}, time.Time{}
}

// drain routes every committed event not routed yet, until caught up with
// the head. It runs on shutdown, once the event writer has stopped and before
// the open batches are sealed, so that a clean stop leaves every committed
// event in a file.
func (r *router) drain(ctx context.Context) error {
	var errs int
	for {
		// A long drain keeps its lease renewed; once it is lost, the new
		// holder routes what is left.
		if !r.lead(ctx) {
			return errLeaseLost
		}
		if r.refreshed.IsZero() {
			if err := r.refresh(ctx); err != nil {
				return err
			}
		}
		n, err := r.routeChunk(ctx)
		if err != nil {
			r.reset()
			if errs++; errs == 3 || ctx.Err() != nil {
				return err
			}
			continue
		}
		if n < routeChunk {
			return nil
		}
	}
}

// errLeaseLost ends a drain whose replica lost the router lease.
var errLeaseLost = errors.New("lost the router lease: another replica routes the rest")

// refreshDue reports whether the mappings are to be reloaded: at
// Config.Reload, or when the routing version moved.
func (r *router) refreshDue(ctx context.Context) bool {
	if time.Since(r.refreshed) >= r.e.cfg.Reload {
		return true
	}
	if time.Since(r.versionChecked) < versionEvery {
		return false
	}
	r.versionChecked = time.Now()
	v, err := r.e.db.RoutingVersion(ctx)
	return err == nil && v != r.version
}

// refresh loads the active mappings. A mapping whose settings or whose
// destination changed starts again from its persisted cursor, so its open
// batches are rebuilt with the new settings.
func (r *router) refresh(ctx context.Context) error {
	r.refreshed = time.Now()
	// Read before the mappings: a change made in between is seen again.
	v, err := r.e.db.RoutingVersion(ctx)
	if err != nil {
		return err
	}
	r.version, r.versionChecked = v, r.refreshed
	ms, err := r.e.db.ActiveMappings(ctx)
	if err != nil {
		return err
	}
	cursors, err := r.e.db.Cursors(ctx)
	if err != nil {
		return err
	}
	dests := map[string]*store.Destination{}
	seen := map[string]bool{}
	for _, m := range ms {
		d, ok := dests[m.DestinationID]
		if !ok {
			if d, err = r.e.db.DestinationByID(ctx, m.DestinationID); err != nil {
				return err
			}
			dests[m.DestinationID] = d
		}
		version := m.UpdatedAt.String() + "|" + d.UpdatedAt.String()
		seen[m.ID] = true
		if st, ok := r.mappings[m.ID]; ok && st.version == version {
			continue
		}
		c, err := Compile(m, d.Config)
		if err != nil {
			r.e.log.Error("mapping cannot be used", "mapping", m.ID, "err", err)
			delete(r.mappings, m.ID)
			continue
		}
		cur := cursors[m.ID]
		ahead, err := r.e.db.SealedAfter(ctx, m.ID, cur)
		if err != nil {
			return err
		}
		srcs := map[string]bool{}
		for _, s := range d.SourceIDs {
			srcs[s] = true
		}
		r.mappings[m.ID] = &mstate{c: c, version: version, destID: d.ID, sources: srcs, cursor: cur, routed: cur,
			sealedAhead: ahead, open: map[string]*batch{}}
	}
	for id := range r.mappings {
		if !seen[id] {
			delete(r.mappings, id)
		}
	}
	return nil
}

// routeChunk routes the next events and returns how many it read.
func (r *router) routeChunk(ctx context.Context) (int, error) {
	if len(r.mappings) == 0 {
		return 0, nil
	}
	var from store.Position
	first := true
	for _, st := range r.mappings {
		if first || st.routed.Less(from) {
			from, first = st.routed, false
		}
	}
	withBody := false
	for _, st := range r.mappings {
		withBody = withBody || !st.c.light
	}
	events, err := r.e.db.EventsAfter(ctx, from, routeChunk, withBody)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	needBody := false
	for _, ev := range events {
		var full map[string]any
		for _, st := range r.mappings {
			if !st.routed.Less(ev.Pos()) || !st.sources[ev.SourceID] {
				continue
			}
			if _, ok := st.sealedAhead[ev.Seq]; ok {
				delete(st.sealedAhead, ev.Seq)
				continue
			}
			msg, ok := st.c.columnsView(ev)
			if !ok {
				if len(ev.Body) == 0 && !needBody {
					// A light mapping met an event its columns do not show
					// faithfully: fetch this chunk's bodies once.
					if err := r.e.db.EventBodies(ctx, events); err != nil {
						return 0, err
					}
					needBody = true
				}
				if full == nil {
					if full, err = decodeEvent(ev.Body); err != nil {
						r.e.log.Error("stored event is not JSON; skipped", "seq", ev.Seq, "err", err)
						break
					}
				}
				msg = full
			}
			if !st.c.Trigger.Match(msg) {
				continue
			}
			if err := r.add(ctx, st, ev, msg); err != nil {
				return 0, err
			}
		}
	}
	last := events[len(events)-1].Pos()
	for _, st := range r.mappings {
		st.routed = st.routed.Max(last)
	}
	// The chunk's files and the cursors past it in one commit.
	if err := r.sealFull(ctx); err != nil {
		return 0, err
	}
	r.e.metrics.routed.Add(float64(len(events)))
	return len(events), nil
}

func (r *router) add(ctx context.Context, st *mstate, ev *store.Event, msg map[string]any) error {
	m := st.c.Mapping
	part := st.c.partition(ev, msg)
	b := st.open[part]
	if b == nil {
		b = &batch{partition: part, from: ev.Pos(), firstReceived: ev.ReceivedAt, first: ev.Timestamp, sample: ev, sampleMsg: msg}
		st.open[part] = b
	}
	b.seqs = append(b.seqs, ev.Seq)
	b.bytes += int64(ev.Size)
	if ev.Timestamp.Before(b.first) {
		b.first = ev.Timestamp
	}
	if ev.Timestamp.After(b.last) {
		b.last = ev.Timestamp
	}
	// The json format writes one object per event; other formats fill files.
	if m.Format == store.FormatJSON || len(b.seqs) >= m.BatchSize || b.bytes >= m.BatchMaxBytes {
		r.ready(st, b)
		if r.readyCount() >= sealTogether {
			// Sealed before the chunk ends, with the cursor at its start:
			// events after these are in batches not persisted yet.
			return r.sealFull(ctx)
		}
	}
	return nil
}

// sealTogether is how many files one seal transaction takes at most.
const sealTogether = 256

// ready moves a batch from the open ones to those to seal.
func (r *router) ready(st *mstate, b *batch) {
	delete(st.open, b.partition)
	st.full = append(st.full, b)
}

// readyCount is how many batches wait to be sealed, over every mapping.
func (r *router) readyCount() int {
	n := 0
	for _, st := range r.mappings {
		n += len(st.full)
	}
	return n
}

// sealFull seals every batch ready to seal, of every mapping, in one
// transaction that also moves each of those mappings' cursors: one commit
// for the files of a chunk rather than one each. A key conflict (a key
// template that named a key already written, or the same key twice) seals
// them one at a time instead, so each gets its own key. On error the
// batches stay ready and are sealed by the next call.
func (r *router) sealFull(ctx context.Context) error {
	var seals []store.Seal
	cursors := map[string]store.Position{}
	for id, st := range r.mappings {
		for _, b := range st.full {
			seals = append(seals, store.Seal{Delivery: r.newDelivery(st, b), Seqs: b.seqs})
		}
		if len(st.full) > 0 {
			cursors[id] = st.persistable(false)
		}
	}
	if len(seals) == 0 {
		return nil
	}
	err := r.e.db.SealDeliveries(ctx, seals, cursors)
	if store.ErrorCode(err) == store.ECONFLICT && store.ErrorField(err) == "key" {
		return r.sealOneByOne(ctx)
	}
	if err != nil {
		r.lost = r.lost || store.IsLeaseLost(err)
		return err
	}
	for id, c := range cursors {
		st := r.mappings[id]
		st.cursor = st.cursor.Max(c)
		st.full = nil
	}
	r.e.metrics.sealed.Add(float64(len(seals)))
	r.e.filesSealed()
	return nil
}

// sealOneByOne seals the ready batches in transactions of their own.
func (r *router) sealOneByOne(ctx context.Context) error {
	for _, st := range r.mappings {
		for len(st.full) > 0 {
			b := st.full[0]
			st.full = st.full[1:]
			if err := r.seal(ctx, st, b); err != nil {
				st.full = append([]*batch{b}, st.full...)
				return err
			}
		}
	}
	return nil
}

// newDelivery is the pending delivery of a batch, named.
func (r *router) newDelivery(st *mstate, b *batch) *store.Delivery {
	now := r.e.db.Now()
	m := st.c.Mapping
	d := &store.Delivery{
		ID: store.NewID("dlv"), DestinationID: st.destID, MappingID: m.ID, Partition: b.partition,
		Events: len(b.seqs), Bytes: b.bytes, FirstEventAt: b.first, LastEventAt: b.last, CreatedAt: now,
		ContentType: st.c.Format.ContentType(), ContentEncoding: st.c.Format.ContentEncoding(),
	}
	if err := st.c.nameFile(d, b.sample, b.sampleMsg); err != nil {
		// A key that cannot be made (a key template reading a missing field,
		// say) is not lost silently: the file is recorded as failed.
		d.Key = "unnamed/" + d.ID
		d.Status, d.LastError, d.LastErrorCode = store.StatusFailed, "The mapping's key template gave no key for this file's event: "+err.Error(), store.ErrCodeNoKey
	}
	return d
}

// seal turns a batch taken out of open and full into a pending delivery:
// key and membership are persisted before any upload, in one transaction
// with the cursor.
func (r *router) seal(ctx context.Context, st *mstate, b *batch) error {
	d := r.newDelivery(st, b)
	cursor := st.persistable(true)
	err := r.e.db.SealDelivery(ctx, d, b.seqs, cursor)
	if store.ErrorCode(err) == store.ECONFLICT && store.ErrorField(err) == "key" {
		// The template named a key already written: never overwrite it.
		d.Key = withFileID(d.Key, d.ID)
		err = r.e.db.SealDelivery(ctx, d, b.seqs, cursor)
	}
	if err != nil {
		r.lost = r.lost || store.IsLeaseLost(err)
		return err
	}
	st.cursor = st.cursor.Max(cursor)
	r.e.metrics.sealed.Inc()
	r.e.filesSealed()
	return nil
}

// withFileID puts a file id before a key's extension: the name's last
// ".xyz" of letters and digits, with the one before it when that is a
// compression's (".csv.gz"). A dot elsewhere in the name (the fraction of
// the json default's time, "05.600Z_id.json") is not an extension.
func withFileID(key, id string) string {
	name := key[strings.LastIndex(key, "/")+1:]
	ext := extension(name)
	if ext == ".gz" {
		ext = extension(strings.TrimSuffix(name, ext)) + ext
	}
	if ext == "" || len(ext) == len(name) {
		return key + "-" + id
	}
	i := len(key) - len(ext)
	return key[:i] + "-" + id + key[i:]
}

// extension is a name's last ".xyz" when xyz is letters and digits,
// starting with a letter (".600Z" is a time's fraction).
func extension(name string) string {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 || dot == len(name)-1 || name[dot+1] >= '0' && name[dot+1] <= '9' {
		return ""
	}
	for _, c := range name[dot+1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return name[dot:]
}

// persistable is the cursor that may be saved: below the oldest event still
// waiting in an open batch, and in a ready one unless withFull is false
// (they are sealed in the transaction that saves it).
func (st *mstate) persistable(withFull bool) store.Position {
	c := st.routed
	below := func(b *batch) {
		if len(b.seqs) > 0 && b.from.Before().Less(c) {
			c = b.from.Before()
		}
	}
	for _, b := range st.open {
		below(b)
	}
	if withFull {
		for _, b := range st.full {
			below(b)
		}
	}
	return c
}

// sealExpired seals the batches past their age, and reports whether a seal
// failed.
func (r *router) sealExpired(ctx context.Context) (failed bool) {
	now := time.Now()
	for _, st := range r.mappings {
		age := time.Duration(st.c.Mapping.BatchMaxAgeSeconds) * time.Second
		for _, b := range st.open {
			if !now.Before(b.firstReceived.Add(age)) {
				r.ready(st, b)
			}
		}
	}
	if err := r.sealFull(ctx); err != nil {
		if ctx.Err() == nil {
			r.e.log.Error("seal batches", "err", err)
		}
		return true
	}
	return false
}

// sealAll seals every open batch, whatever its size or age: on shutdown.
func (r *router) sealAll(ctx context.Context) error {
	for _, st := range r.mappings {
		for _, b := range st.open {
			r.ready(st, b)
		}
	}
	if err := r.sealFull(ctx); err != nil {
		return err
	}
	r.saveCursors(ctx)
	return nil
}

func (r *router) nextDeadline() (time.Time, bool) {
	var next time.Time
	for _, st := range r.mappings {
		age := time.Duration(st.c.Mapping.BatchMaxAgeSeconds) * time.Second
		for _, b := range st.open {
			if d := b.firstReceived.Add(age); next.IsZero() || d.Before(next) {
				next = d
			}
		}
	}
	return next, !next.IsZero()
}

// saveCursors persists cursors that moved without a seal (events that did
// not match), so a restart does not look at them again.
func (r *router) saveCursors(ctx context.Context) {
	for id, st := range r.mappings {
		c := st.persistable(true)
		if !st.cursor.Less(c) {
			continue
		}
		if err := r.e.db.SetCursor(ctx, id, c); err != nil {
			r.lost = r.lost || store.IsLeaseLost(err)
			if ctx.Err() == nil {
				r.e.log.Error("save cursor", "mapping", id, "err", err)
			}
			return
		}
		st.cursor = c
		for seq, p := range st.sealedAhead {
			if !c.Less(p) {
				delete(st.sealedAhead, seq)
			}
		}
	}
}
