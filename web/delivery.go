package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// UploadWaker is what the server needs from the delivery engine: a wake-up
// when a user makes deliveries due again. *delivery.Engine is one.
type UploadWaker interface {
	Wake()
}

const (
	// deliveryPageSize is how many deliveries a history page shows.
	deliveryPageSize = 50
	// deliveryPreviewRows is how many events the detail page encodes.
	deliveryPreviewRows = 20
	// deliveryPreviewBytes bounds the preview text, whatever the events' size.
	deliveryPreviewBytes = 64 << 10
)

// wakeUploads tells the engine that deliveries became due; without an engine
// they are picked up at its next poll.
func (s *Server) wakeUploads() {
	if s.uploads != nil {
		s.uploads.Wake()
	}
}

// isDeliveryFragment reports whether htmx asks for the part of a page that refreshes
// in place rather than the whole page.
func isDeliveryFragment(c echo.Context) bool {
	c.Response().Header().Add("Vary", "HX-Request")
	return c.Request().Header.Get("HX-Request") == "true"
}

// deliveryFragmentPage is the layout model of an htmx fragment: only the CSRF token
// its forms carry. A flash notice is left for the next full page.
func deliveryFragmentPage(c echo.Context) views.Page {
	p := views.Page{}
	p.CSRF, _ = c.Get(csrfCtxKey).(string)
	return p
}

// deliveryDirectory names the destinations and mappings deliveries refer to.
type deliveryDirectory struct {
	destinations []*store.Destination
	mappings     map[string][]*store.Mapping // by destination id
	destByID     map[string]*store.Destination
	mapByID      map[string]*store.Mapping
}

func (s *Server) loadDeliveryDirectory(ctx context.Context) (*deliveryDirectory, error) {
	dir := &deliveryDirectory{mappings: map[string][]*store.Mapping{}, destByID: map[string]*store.Destination{}, mapByID: map[string]*store.Mapping{}}
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		ds, next, err := s.db.ListDestinations(ctx, p)
		if err != nil {
			return nil, err
		}
		dir.destinations = append(dir.destinations, ds...)
		if next == "" {
			break
		}
		p.Before = next
	}
	sort.SliceStable(dir.destinations, func(i, j int) bool {
		return strings.ToLower(dir.destinations[i].Name) < strings.ToLower(dir.destinations[j].Name)
	})
	byDest, err := s.db.MappingsByDestination(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range dir.destinations {
		dir.destByID[d.ID] = d
		ms := byDest[d.ID]
		dir.mappings[d.ID] = ms
		for _, m := range ms {
			dir.mapByID[m.ID] = m
		}
	}
	return dir, nil
}

func (dir *deliveryDirectory) row(d *store.Delivery) views.DeliveryRow {
	r := views.DeliveryRow{
		ID: d.ID, DestinationID: d.DestinationID, Key: d.Key, Status: d.Status, Test: d.Test, Events: d.Events, Bytes: d.Bytes,
		Attempts: d.Attempts, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt, LastError: d.LastError, LastErrorCode: d.LastErrorCode,
		DestinationName: d.DestinationID, MappingName: d.MappingID,
		CanRetry: !d.Test && (d.Status == store.StatusFailed || d.Status == store.StatusRetrying),
	}
	if dest := dir.destByID[d.DestinationID]; dest != nil {
		r.DestinationName = dest.Name
	}
	if m := dir.mapByID[d.MappingID]; m != nil {
		r.MappingName = m.Name
	}
	return r
}

// deliveryTimeLayouts are the forms a history time filter may take: what a
// datetime-local input sends, and RFC 3339 for links and scripts.
var deliveryTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339}

// parseDeliveryTime reads a time filter; times without a zone are UTC.
func parseDeliveryTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range deliveryTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, store.FieldErrorf(field, "%s must be a date and time such as 2025-01-31T14:00 (UTC) or an RFC 3339 time.", field)
}

// deliveryFilter reads the filters shared by the history page and the API.
func deliveryFilter(q url.Values) (store.DeliveryFilter, error) {
	f := store.DeliveryFilter{DestinationID: q.Get("destination_id"), MappingID: q.Get("mapping_id"), Status: q.Get("status"),
		HideTest: q.Get("hide_test") != "", KeyContains: strings.TrimSpace(q.Get("key"))}
	var err error
	if f.Since, err = parseDeliveryTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseDeliveryTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, store.FieldErrorf("until", "until must be after since.")
	}
	return f, nil
}

// deliveryListURL is the history page with the given filters, from before
// ("" for the newest).
func deliveryListURL(f views.DeliveryFilter, before string) string {
	q := url.Values{}
	hideTest := ""
	if f.HideTest {
		hideTest = "1"
	}
	for k, v := range map[string]string{"destination_id": f.DestinationID, "mapping_id": f.MappingID, "status": f.Status, "since": f.Since, "until": f.Until,
		"key": f.Key, "hide_test": hideTest, "before": before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return "/deliveries"
	}
	return "/deliveries?" + q.Encode()
}

func (s *Server) handleDeliveryList(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	form := views.DeliveryFilter{DestinationID: q.Get("destination_id"), MappingID: q.Get("mapping_id"), Status: q.Get("status"),
		Since: q.Get("since"), Until: q.Get("until"), Key: strings.TrimSpace(q.Get("key")), HideTest: q.Get("hide_test") != ""}
	before := q.Get("before")
	dir, err := s.loadDeliveryDirectory(ctx)
	if err != nil {
		return err
	}
	v := views.DeliveriesView{Filter: form, Statuses: store.DeliveryStatuses, ListURL: deliveryListURL(form, before)}
	status := http.StatusOK
	f, err := deliveryFilter(q)
	var ds []*store.Delivery
	next := ""
	if err == nil {
		f.Page = store.Page{Limit: deliveryPageSize, Before: before}
		ds, next, err = s.db.ListDeliveries(ctx, f)
	}
	switch {
	case store.ErrorCode(err) == store.EINVALID:
		v.Errors, status = formErrors(err, nil), http.StatusUnprocessableEntity
	case err != nil:
		return err
	}
	for _, d := range ds {
		v.Rows = append(v.Rows, dir.row(d))
	}
	v.Empty = len(ds) == 0 && !form.Active() && before == "" && v.Errors == nil
	if next != "" {
		v.OlderURL = deliveryListURL(form, next)
	}
	if before != "" {
		v.NewestURL = deliveryListURL(form, "")
	} else if v.Errors == nil {
		v.PollURL = deliveryListURL(form, "")
	}
	failed, err := s.db.FailedCounts(ctx)
	if err != nil {
		return err
	}
	for _, d := range dir.destinations {
		if n := failed[d.ID]; n > 0 && (form.DestinationID == "" || form.DestinationID == d.ID) {
			v.Failed = append(v.Failed, views.RetryFailedTarget{DestinationID: d.ID, Name: d.Name, Failed: n})
		}
	}
	if isDeliveryFragment(c) {
		v.Page = deliveryFragmentPage(c)
		return s.render(c, status, views.DeliveryResults(v))
	}
	for _, d := range dir.destinations {
		v.Destinations = append(v.Destinations, views.Option{Value: d.ID, Label: d.Name})
		if ms := dir.mappings[d.ID]; len(ms) > 0 {
			g := views.FilterOptionGroup{Label: d.Name}
			for _, m := range ms {
				g.Options = append(g.Options, views.Option{Value: m.ID, Label: m.Name})
			}
			v.Mappings = append(v.Mappings, g)
		}
	}
	v.Page = s.page(c, "Deliveries", "deliveries")
	return s.render(c, status, views.Deliveries(v))
}

// s3ConsoleURL links to an object in the AWS console. Custom endpoints have
// no console, and the China and GovCloud partitions have consoles of their
// own: for those it is "".
func s3ConsoleURL(cfg store.DestinationConfig, key string) string {
	if cfg.Endpoint != "" || cfg.Bucket == "" || !store.IsAWSRegion(cfg.Region) || store.Partition(cfg.Region) != "aws" {
		return ""
	}
	// The console reads spaces as %20; QueryEscape would write "+".
	esc := func(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }
	return "https://s3.console.aws.amazon.com/s3/object/" + url.PathEscape(cfg.Bucket) + "?region=" + esc(cfg.Region) + "&prefix=" + esc(key)
}

// deliveryDetail builds the detail page's model, without the preview.
func (s *Server) deliveryDetail(ctx context.Context, id string) (views.DeliveryDetailView, *store.Delivery, *store.Destination, *store.Mapping, error) {
	var v views.DeliveryDetailView
	d, attempts, err := s.db.DeliveryByID(ctx, id)
	if err != nil {
		return v, nil, nil, nil, err
	}
	dest, err := s.db.DestinationByID(ctx, d.DestinationID)
	if err != nil {
		return v, nil, nil, nil, err
	}
	m, err := s.db.MappingByID(ctx, d.DestinationID, d.MappingID)
	if err != nil {
		return v, nil, nil, nil, err
	}
	dir := &deliveryDirectory{destByID: map[string]*store.Destination{dest.ID: dest}, mapByID: map[string]*store.Mapping{m.ID: m}}
	v = views.DeliveryDetailView{
		Delivery: dir.row(d), MappingID: m.ID, ConsoleURL: s3ConsoleURL(dest.Config, d.Key),
		ContentType: d.ContentType, Encoding: d.ContentEncoding, Checksum: d.Checksum,
		FirstEventAt: d.FirstEventAt, LastEventAt: d.LastEventAt, NextAttemptAt: d.NextAttemptAt, LastErrorCode: d.LastErrorCode,
		CanRetry: !d.Test && (d.Status == store.StatusFailed || d.Status == store.StatusRetrying),
	}
	for _, a := range attempts {
		v.Attempts = append(v.Attempts, views.AttemptRow{N: a.N, At: a.At, Duration: a.Duration, OK: a.OK, HTTPStatus: a.HTTPStatus,
			Code: a.Code, Message: a.Message, RequestID: a.RequestID, Replica: a.Replica})
	}
	switch d.Status {
	case store.StatusPending, store.StatusUploading, store.StatusRetrying:
		v.LiveURL = "/deliveries/" + url.PathEscape(d.ID)
	}
	return v, d, dest, m, nil
}

func (s *Server) handleDeliveryShow(c echo.Context) error {
	ctx := c.Request().Context()
	v, d, dest, m, err := s.deliveryDetail(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if isDeliveryFragment(c) {
		v.Page = deliveryFragmentPage(c)
		return s.render(c, http.StatusOK, views.DeliveryLive(v))
	}
	if v.Preview, err = s.deliveryPreview(ctx, d, dest, m); err != nil {
		return err
	}
	v.Page = s.page(c, "Delivery", "deliveries")
	return s.render(c, http.StatusOK, views.DeliveryDetail(v))
}

// deliveryPreview encodes the first stored events of a delivery as its file
// has them, with the mapping's current settings and no compression, so the
// page shows text. Only a database failure is an error; anything that keeps
// the rows from being shown is explained in the preview.
func (s *Server) deliveryPreview(ctx context.Context, d *store.Delivery, dest *store.Destination, m *store.Mapping) (views.DeliveryPreview, error) {
	p := views.DeliveryPreview{Total: d.Events}
	if d.Test {
		p.Problem = "A test delivery is written straight from the sample event, which is not stored: there are no rows to show."
		return p, nil
	}
	stored, err := s.db.StoredEventCount(ctx, d.ID)
	if err != nil {
		return p, err
	}
	p.Purged = max(d.Events-stored, 0)
	if stored == 0 {
		return p, nil
	}
	plain := *m
	plain.Compression = store.CompressionNone
	compiled, err := delivery.Compile(&plain, dest.Config)
	if err != nil {
		p.Problem = "The mapping's current settings are not valid, so the rows cannot be shown: " + store.ErrorMessage(err)
		return p, nil
	}
	var msgs []delivery.Sample
	err = s.db.DeliveryEvents(ctx, d.ID, deliveryPreviewRows, func(ev *store.Event) error {
		msg, err := delivery.StoredSample(ev)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
		return nil
	})
	if store.ErrorCode(err) == store.EINVALID {
		p.Problem = "A stored event of this file could not be read."
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if plain.Format == store.FormatParquet {
		compiled, err := delivery.Compile(m, dest.Config)
		if err != nil {
			p.Problem = "The mapping's current settings are not valid, so the rows cannot be shown: " + store.ErrorMessage(err)
			return p, nil
		}
		tbl, nulls, err := delivery.StoredTable(ctx, s.db, compiled, d)
		if err != nil {
			p.Problem = "The rows cannot be encoded with the mapping's current settings: " + err.Error()
			return p, nil
		}
		p.Table, p.Shown = parquetTable(tbl, nulls), len(tbl.Rows)
		return p, nil
	}
	if plain.Format == store.FormatJSON {
		for _, msg := range msgs {
			obj, err := compiled.Format.Object(msg.Msg, d.CreatedAt)
			if err != nil {
				p.Problem = "The rows cannot be encoded with the mapping's current settings: " + err.Error()
				return p, nil
			}
			p.Bodies = append(p.Bodies, string(obj.Body))
		}
	} else {
		var buf bytes.Buffer
		// The encoder is started for the whole file, so a batch size column
		// shows the file's real count; it is never closed, since only the
		// first rows are written.
		enc, err := compiled.Format.NewEncoder(&buf, d.Events)
		if err == nil {
			for _, msg := range msgs {
				if err = enc.EncodeJSON(msg.Raw); err != nil {
					break
				}
			}
		}
		if err != nil {
			p.Problem = "The rows cannot be encoded with the mapping's current settings: " + err.Error()
			return p, nil
		}
		p.Bodies = []string{buf.String()}
	}
	p.Shown = len(msgs)
	for i, b := range p.Bodies {
		if len(b) > deliveryPreviewBytes {
			p.Bodies[i], p.Truncated = strings.ToValidUTF8(b[:deliveryPreviewBytes], ""), true
		}
		if !utf8.ValidString(p.Bodies[i]) {
			p.Bodies[i] = strings.ToValidUTF8(p.Bodies[i], "\uFFFD")
		}
	}
	return p, nil
}

// retryDelivery makes the failed or retrying delivery named in the route due
// now. Returns ENOTFOUND, or ECONFLICT for any other status.
func (s *Server) retryDelivery(c echo.Context) error {
	ctx := c.Request().Context()
	d, _, err := s.db.DeliveryByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if d.LastErrorCode == store.ErrCodeNoKey {
		// A file that never got a key gets one from the mapping as it is now.
		err = delivery.Rekey(ctx, s.db, d.ID)
	} else {
		err = s.db.RetryDelivery(ctx, d.ID)
	}
	if err != nil {
		return err
	}
	s.wakeUploads()
	s.log.Info("delivery retried", "delivery", c.Param("id"), "by", actor(c))
	return nil
}

// retryFailed makes every failed delivery of the destination named in the
// route due now, and returns the destination and how many there were.
// Returns ENOTFOUND.
func (s *Server) retryFailed(c echo.Context) (*store.Destination, int64, error) {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.RetryFailed(ctx, dest.ID)
	if err != nil {
		return nil, 0, err
	}
	named, err := delivery.RekeyAll(ctx, s.db, dest.ID)
	n += named
	if err != nil {
		return nil, 0, err
	}
	s.wakeUploads()
	s.log.Info("failed deliveries retried", "destination", dest.ID, "deliveries", n, "by", actor(c))
	return dest, n, nil
}

func (s *Server) handleDeliveryRetry(c echo.Context) error {
	target := "/deliveries/" + url.PathEscape(c.Param("id"))
	// The history's per-row Retry comes back to the same list.
	if back := c.FormValue("back"); strings.HasPrefix(back, "/deliveries") && !strings.HasPrefix(back, "//") {
		target = back
	}
	err := s.retryDelivery(c)
	if code := store.ErrorCode(err); code == store.ECONFLICT || code == store.EINVALID {
		return s.redirectWithFlash(c, target, store.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	return s.redirectWithFlash(c, target, "The delivery is queued for another attempt.")
}

func (s *Server) handleDestinationRetryFailed(c echo.Context) error {
	dest, n, err := s.retryFailed(c)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Retrying %d failed deliveries of “%s”.", n, dest.Name)
	switch n {
	case 0:
		msg = "No failed delivery of “" + dest.Name + "” was left to retry."
	case 1:
		msg = "Retrying the failed delivery of “" + dest.Name + "”."
	}
	return s.redirectWithFlash(c, deliveryListURL(views.DeliveryFilter{DestinationID: dest.ID}, ""), msg)
}
