package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// apiEvent is a stored event in the management API. ID is the event's
// sequence number, which is also the cursor of the list route.
type apiEvent struct {
	ID         string          `json:"id"`
	SourceID   string          `json:"source_id"`
	ReceivedAt time.Time       `json:"received_at"`
	Message    json.RawMessage `json:"message"`
}

// eventTypes are the types an event can be stored with, in filter order.
var eventTypes = slices.Concat(store.SegmentTypes, []string{store.TypePublish})

// eventFilter reads the filters shared by the events page and the API:
// source_id (which must exist), type and the before cursor. Returns EINVALID
// or ENOTFOUND.
func (s *Server) eventFilter(c echo.Context) (store.EventFilter, error) {
	f := store.EventFilter{SourceID: c.QueryParam("source_id"), Type: c.QueryParam("type"),
		MessageID: strings.TrimSpace(c.QueryParam("message_id")), UserID: strings.TrimSpace(c.QueryParam("user_id"))}
	if f.Type != "" && !slices.Contains(eventTypes, f.Type) {
		return f, store.FieldErrorf("type", "type must be one of %s.", strings.Join(eventTypes, ", "))
	}
	var err error
	if f.Before, err = store.ParseEventCursor("before", c.QueryParam("before")); err != nil {
		return f, err
	}
	if f.SourceID != "" {
		if _, err := s.db.SourceByID(c.Request().Context(), f.SourceID); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *Server) handleAPIEventList(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	f, err := s.eventFilter(c)
	if err != nil {
		return err
	}
	f.Limit = p.Limit
	events, next, err := s.db.ListEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := listResponse[apiEvent]{Data: []apiEvent{}, Next: next}
	for _, e := range events {
		out.Data = append(out.Data, apiEvent{
			ID:         strconv.FormatInt(e.Seq, 10),
			SourceID:   e.SourceID,
			ReceivedAt: e.ReceivedAt,
			Message:    e.Body,
		})
	}
	return c.JSON(http.StatusOK, out)
}
