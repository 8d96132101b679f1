package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

const (
	// eventsPageSize is how many events one page of the events page shows.
	eventsPageSize = 50
	// maxLiveRows bounds the rows live refresh piles onto an open events
	// page; past it the table starts again from the newest page.
	maxLiveRows = 200
	// setupLinks is how many sources the empty events page links to.
	setupLinks = 5
)

func (s *Server) handleEventList(c echo.Context) error {
	ctx := c.Request().Context()
	v := views.EventsView{Page: s.page(c, "Events", "events"), Types: eventTypes}
	srcs, _, err := s.db.ListSources(ctx, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return s.render(c, http.StatusOK, views.Events(v))
	}
	v.HasSources = true
	names := map[string]string{}
	for _, src := range srcs {
		v.Sources = append(v.Sources, views.Option{Value: src.ID, Label: src.Name})
		names[src.ID] = src.Name
	}
	f, err := s.eventFilter(c)
	if err != nil {
		return err
	}
	v.SourceID, v.Type, v.MessageID, v.UserID = f.SourceID, f.Type, f.MessageID, f.UserID
	f.Limit = eventsPageSize
	es, next, err := s.db.ListEvents(ctx, f)
	if err != nil {
		return err
	}
	rows, err := s.eventRows(ctx, es, names, math.MaxInt64)
	if err != nil {
		return err
	}
	v.Live = views.EventsLive{Rows: rows, Filtered: f.SourceID != "" || f.Type != "" || f.MessageID != "" || f.UserID != ""}
	if next != "" {
		v.Live.Older = eventsURL("/events", f, "before", next)
	}
	if f.Before > 0 {
		v.Live.Newest = eventsURL("/events", f)
	} else {
		var newest int64
		if len(es) > 0 {
			newest = es[0].Seq
		}
		v.Live.Poll = pollURL(f, newest, len(rows))
	}
	for _, o := range v.Sources {
		if len(v.Live.Setup) == setupLinks {
			break
		}
		if f.SourceID == "" || o.Value == f.SourceID {
			v.Live.Setup = append(v.Live.Setup, o)
		}
	}
	ds, err := s.db.ListDrops(ctx, f.SourceID)
	if err != nil {
		return err
	}
	if v.Drops, err = s.dropRows(ctx, ds, names); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Events(v))
}

// handleEventRows answers the events page's live refresh: 204 when nothing
// arrived after the newest event shown, else the rows to put on top. When
// more arrived than a page holds (rows would be missing in between), or the
// page holds too many rows, it sends the newest page to replace the table.
func (s *Server) handleEventRows(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := s.eventFilter(c)
	if err != nil {
		return err
	}
	after, err := store.ParseEventCursor("after", c.QueryParam("after"))
	if err != nil {
		return err
	}
	// A missing or damaged count only costs a full table.
	shown, _ := strconv.Atoi(c.QueryParam("shown"))
	f.Before, f.After, f.Limit = 0, after, eventsPageSize
	es, next, err := s.db.ListEvents(ctx, f)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	arrived, more := len(es), next != ""
	reset := more || shown <= 0 || shown+len(es) > maxLiveRows
	if reset && !more && f.After > 0 {
		// The table starts again from the newest page, whose rows reach
		// further back than the few that arrived.
		f.After = 0
		if es, next, err = s.db.ListEvents(ctx, f); err != nil {
			return err
		}
	}
	rows, err := s.eventRows(ctx, es, map[string]string{}, after)
	if err != nil {
		return err
	}
	u := views.EventsUpdate{Rows: rows, Reset: reset, Status: arrivalStatus(arrived, more, s.db.Now().UTC().Format("15:04:05 UTC"))}
	if reset {
		u.Poll = pollURL(f, es[0].Seq, len(rows))
		u.Live = views.EventsLive{Rows: rows, Filtered: f.SourceID != "" || f.Type != ""}
		if next != "" {
			u.Live.Older = eventsURL("/events", f, "before", next)
		}
	} else {
		u.Poll = pollURL(f, es[0].Seq, shown+len(rows))
	}
	return s.render(c, http.StatusOK, views.EventsUpdated(u))
}

// arrivalStatus is the live region's line about a refresh.
func arrivalStatus(n int, more bool, at string) string {
	switch {
	case more:
		return fmt.Sprintf("More than %d new events at %s.", n, at)
	case n == 1:
		return "1 new event at " + at + "."
	default:
		return fmt.Sprintf("%d new events at %s.", n, at)
	}
}

func (s *Server) handleEventShow(c echo.Context) error {
	ctx := c.Request().Context()
	n, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || n <= 0 {
		return store.Errorf(store.ENOTFOUND, "Event not found.")
	}
	e, err := s.db.EventBySeq(ctx, n)
	if err != nil {
		return err
	}
	rows, err := s.eventRows(ctx, []*store.Event{e}, map[string]string{}, math.MaxInt64)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, e.Body, "", "  "); err != nil {
		// Stored bodies are valid JSON; should one not be, show it as it is.
		pretty.Reset()
		pretty.Write(e.Body)
	}
	ds, err := s.db.DeliveriesOfEvent(ctx, e.Seq)
	if err != nil {
		return err
	}
	dir, err := s.loadDeliveryDirectory(ctx)
	if err != nil {
		return err
	}
	var files []views.DeliveryRow
	for _, d := range ds {
		files = append(files, dir.row(d))
	}
	v := views.EventView{
		Deliveries: files,
		Page:       s.page(c, "Event "+e.ID, "events"),
		Event:      rows[0],
		Kind:       e.Kind,
		Timestamp:  e.Timestamp,
		JSON:       pretty.String(),
		Back:       eventsURL("/events", store.EventFilter{SourceID: e.SourceID}),
	}
	return s.render(c, http.StatusOK, views.Event(v))
}

// eventsURL is a URL of the events page (or its live refresh) with the
// filter's source and type, and extra query parameters as name, value pairs.
func eventsURL(path string, f store.EventFilter, extra ...string) string {
	q := url.Values{}
	if f.SourceID != "" {
		q.Set("source_id", f.SourceID)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.MessageID != "" {
		q.Set("message_id", f.MessageID)
	}
	if f.UserID != "" {
		q.Set("user_id", f.UserID)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// pollURL is the live refresh of a page whose newest event is after and
// which shows shown rows.
func pollURL(f store.EventFilter, after int64, shown int) string {
	return eventsURL("/events/rows", f, "after", strconv.FormatInt(after, 10), "shown", strconv.Itoa(shown))
}

// eventRows turns stored events into table rows. names caches source names
// and is filled as sources are looked up; events newer than freshAfter are
// marked as just arrived (math.MaxInt64 marks none).
func (s *Server) eventRows(ctx context.Context, es []*store.Event, names map[string]string, freshAfter int64) ([]views.EventRow, error) {
	rows := make([]views.EventRow, 0, len(es))
	for _, e := range es {
		name, err := s.sourceName(ctx, names, e.SourceID)
		if err != nil {
			return nil, err
		}
		r := views.EventRow{
			Seq:        e.Seq,
			ReceivedAt: e.ReceivedAt,
			SourceID:   e.SourceID,
			SourceName: name,
			Type:       e.Type,
			Name:       e.Name,
			MessageID:  e.ID,
			Fresh:      e.Seq > freshAfter,
		}
		if e.Kind == store.KindSegment {
			var ids struct {
				UserID      string `json:"userId"`
				AnonymousID string `json:"anonymousId"`
			}
			// Ingestion stores both as strings; should either be anything
			// else, json still decodes the other, and the row shows what it can.
			_ = json.Unmarshal(e.Body, &ids)
			r.UserID, r.AnonymousID = ids.UserID, ids.AnonymousID
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// dropRows turns dropped-message counts into table rows.
func (s *Server) dropRows(ctx context.Context, ds []store.DropCount, names map[string]string) ([]views.DropRow, error) {
	rows := make([]views.DropRow, 0, len(ds))
	for _, d := range ds {
		name, err := s.sourceName(ctx, names, d.SourceID)
		if err != nil {
			return nil, err
		}
		reason, ok := store.DropReasonText[d.Reason]
		if !ok {
			reason = d.Reason
		}
		rows = append(rows, views.DropRow{SourceID: d.SourceID, SourceName: name, Reason: reason, Count: d.Count, LastAt: d.LastAt, Example: d.Example})
	}
	return rows, nil
}

// sourceName returns a source's name from names, looking it up (and adding
// it) when it is not there. A source deleted meanwhile is shown by its id.
func (s *Server) sourceName(ctx context.Context, names map[string]string, id string) (string, error) {
	if name, ok := names[id]; ok {
		return name, nil
	}
	src, err := s.db.SourceByID(ctx, id)
	switch store.ErrorCode(err) {
	case "":
		names[id] = src.Name
	case store.ENOTFOUND:
		names[id] = id
	default:
		return "", err
	}
	return names[id], nil
}
