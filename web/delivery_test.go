package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

// history is two destinations, a mapping on each, and deliveries of every
// status between them.
type history struct {
	Source    *store.Source
	AWS       *store.Destination
	Custom    *store.Destination
	AWSMap    *store.Mapping
	CustomMap *store.Mapping
	// Base is the creation time of the first delivery; delivery i was
	// created i minutes later.
	Base time.Time
	// All holds the deliveries in creation order.
	All []*store.Delivery
}

// historyStatus is the status of delivery i: of every ten, six are
// delivered, one failed, one retrying, one pending and one a delivered test.
func historyStatus(i int) (status string, test bool) {
	switch i % 10 {
	case 6:
		return store.StatusFailed, false
	case 7:
		return store.StatusRetrying, false
	case 8:
		return store.StatusPending, false
	case 9:
		return store.StatusDelivered, true
	default:
		return store.StatusDelivered, false
	}
}

// mustDestination creates an enabled destination with one csv mapping.
// An endpoint makes it S3-compatible storage rather than AWS.
func (e *env) mustDestination(tb testing.TB, name, endpoint string, sourceIDs ...string) (*store.Destination, *store.Mapping) {
	tb.Helper()
	ctx := context.Background()
	d := &store.Destination{Name: name, Enabled: true, SourceIDs: sourceIDs,
		Config:      store.DestinationConfig{Bucket: "acme-events", Region: "us-east-1", Auth: store.AuthKeys, Endpoint: endpoint},
		Credentials: store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "not-a-secret"}}
	if err := e.DB.CreateDestination(ctx, d); err != nil {
		tb.Fatal(err)
	}
	m := &store.Mapping{DestinationID: d.ID, Name: name + " tracks", Enabled: true, Format: store.FormatCSV, Columns: []store.Column{
		{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"},
	}, BatchSizeColumnName: "batch_size"}
	if err := e.DB.CreateMapping(ctx, m); err != nil {
		tb.Fatal(err)
	}
	return d, m
}

// mustHistory stores n deliveries through the engine's own store calls:
// sealed, then attempted as historyStatus says. Two in three go to the AWS
// destination.
func mustHistory(tb testing.TB, e *env, n int) *history {
	tb.Helper()
	h := &history{Source: e.mustSource(tb, "web")}
	h.AWS, h.AWSMap = e.mustDestination(tb, "Warehouse", "", h.Source.ID)
	h.Custom, h.CustomMap = e.mustDestination(tb, "Lake", "http://127.0.0.1:9", h.Source.ID)
	h.Base = time.Now().UTC().Add(-time.Duration(n+10) * time.Minute).Truncate(time.Minute)
	for i := 0; i < n; i++ {
		m := h.AWSMap
		if i%3 == 0 {
			m = h.CustomMap
		}
		status, test := historyStatus(i)
		created := h.Base.Add(time.Duration(i) * time.Minute)
		h.All = append(h.All, mustDelivery(tb, e.DB, &store.Delivery{DestinationID: m.DestinationID, MappingID: m.ID, Test: test,
			Key: fmt.Sprintf("raw/tracks/%04d.csv", i), Events: 100 + i, CreatedAt: created,
			FirstEventAt: created.Add(-time.Minute), LastEventAt: created.Add(-time.Second)}, status, nil))
	}
	return h
}

// mustDelivery seals a delivery of the given events and records the attempts
// that bring it to status: one for delivered and failed, a 503 for retrying.
func mustDelivery(tb testing.TB, db *store.DB, d *store.Delivery, status string, seqs []int64) *store.Delivery {
	tb.Helper()
	ctx := context.Background()
	if d.Test {
		d.Status, d.Attempts, d.LeaseHolder, d.LeaseExpiresAt = store.StatusUploading, 1, "replica-a", d.CreatedAt.Add(time.Minute)
	}
	if err := db.SealDelivery(ctx, d, seqs, store.Position{}); err != nil {
		tb.Fatal(err)
	}
	if status == store.StatusPending {
		return d
	}
	if !d.Test {
		if ok, err := db.StartAttempt(ctx, d.ID, "replica-a", time.Now().Add(time.Minute)); err != nil || !ok {
			tb.Fatalf("start attempt of %s: %v, %v", d.ID, ok, err)
		}
	}
	at := d.CreatedAt.Add(time.Second)
	o := store.AttemptOutcome{Status: status, Attempt: store.Attempt{N: 1, At: at, Duration: 250 * time.Millisecond, RequestID: "req-" + d.ID, Replica: "replica-a"}}
	switch status {
	case store.StatusDelivered:
		o.Attempt.OK, o.Attempt.HTTPStatus, o.Bytes = true, 200, int64(1000*d.Events)
	case store.StatusFailed:
		o.Attempt.HTTPStatus, o.Attempt.Code, o.Attempt.Message = 403, "AccessDenied", "Access Denied — allow s3:PutObject on the bucket"
	case store.StatusRetrying:
		o.Attempt.HTTPStatus, o.Attempt.Code, o.Attempt.Message = 503, "SlowDown", "Please reduce your request rate."
		o.NextAt = time.Now().Add(time.Hour)
	}
	if err := db.FinishAttempt(ctx, d.ID, o); err != nil {
		tb.Fatal(err)
	}
	got, _, err := db.DeliveryByID(ctx, d.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// deliveryJSON is a delivery as CONTRACT §4 shows it.
type deliveryJSON struct {
	ID            string     `json:"id"`
	DestinationID string     `json:"destination_id"`
	MappingID     string     `json:"mapping_id"`
	Key           string     `json:"key"`
	Status        string     `json:"status"`
	Events        int        `json:"events"`
	Bytes         int64      `json:"bytes"`
	Attempts      int        `json:"attempts"`
	FirstEventAt  *time.Time `json:"first_event_at"`
	LastEventAt   *time.Time `json:"last_event_at"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	Test          bool       `json:"test"`
	AttemptLog    []struct {
		N          int       `json:"n"`
		At         time.Time `json:"at"`
		DurationMS int64     `json:"duration_ms"`
		OK         bool      `json:"ok"`
		HTTPStatus int       `json:"http_status"`
		Code       string    `json:"code"`
		Message    string    `json:"message"`
		RequestID  string    `json:"request_id"`
		Replica    string    `json:"replica"`
	} `json:"attempt_log"`
}

// contractDeliveryKeys are the fields CONTRACT §4 names for a delivery.
var contractDeliveryKeys = []string{"id", "destination_id", "mapping_id", "key", "status", "events", "bytes", "attempts",
	"first_event_at", "last_event_at", "created_at", "delivered_at", "next_attempt_at", "last_error"}

// listDeliveries pages through GET /api/v1/deliveries with query and
// returns every delivery, checking the pages' order and cursors on the way.
func (e *env) listDeliveries(tb testing.TB, token, query string, limit int) []deliveryJSON {
	tb.Helper()
	var all []deliveryJSON
	before := ""
	for pages := 0; ; pages++ {
		q, _ := url.ParseQuery(query)
		q.Set("limit", fmt.Sprint(limit))
		if before != "" {
			q.Set("before", before)
		}
		resp, body := e.apiGet(tb, "/api/v1/deliveries?"+q.Encode(), token)
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("GET deliveries?%s = %d %s", q.Encode(), resp.StatusCode, body)
		}
		var page struct {
			Data []deliveryJSON `json:"data"`
			Next string         `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || page.Data == nil {
			tb.Fatalf("page %s: %v", body, err)
		}
		if len(page.Data) > limit || (page.Next != "" && len(page.Data) != limit) {
			tb.Fatalf("page of %d with next %q, limit %d", len(page.Data), page.Next, limit)
		}
		all = append(all, page.Data...)
		if page.Next == "" {
			break
		}
		if page.Next != page.Data[len(page.Data)-1].ID {
			tb.Fatalf("next = %q, want the last id of the page", page.Next)
		}
		before = page.Next
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			tb.Fatalf("deliveries not newest first: %s after %s", all[i].ID, all[i-1].ID)
		}
	}
	return all
}

func TestAPIDeliveryListFiltersAndPages(t *testing.T) {
	e := MustEnv(t)
	h := mustHistory(t, e, 1200)
	token := e.mustToken(t)
	created := func(i int) string { return h.Base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339) }
	want := func(keep func(i int, d *store.Delivery) bool) []string {
		var ids []string
		for i := len(h.All) - 1; i >= 0; i-- {
			if keep(i, h.All[i]) {
				ids = append(ids, h.All[i].ID)
			}
		}
		return ids
	}
	tests := []struct {
		name  string
		query string
		limit int
		keep  func(int, *store.Delivery) bool
	}{
		{"all, default-sized pages", "", 50, func(int, *store.Delivery) bool { return true }},
		{"all, largest pages", "", 500, func(int, *store.Delivery) bool { return true }},
		{"destination", "destination_id=" + h.AWS.ID, 500, func(_ int, d *store.Delivery) bool { return d.DestinationID == h.AWS.ID }},
		{"mapping", "mapping_id=" + h.CustomMap.ID, 500, func(_ int, d *store.Delivery) bool { return d.MappingID == h.CustomMap.ID }},
		{"status", "status=failed", 100, func(i int, _ *store.Delivery) bool { s, _ := historyStatus(i); return s == store.StatusFailed }},
		{"destination and status", "status=retrying&destination_id=" + h.Custom.ID, 500, func(i int, d *store.Delivery) bool {
			s, _ := historyStatus(i)
			return s == store.StatusRetrying && d.DestinationID == h.Custom.ID
		}},
		{"time range", "since=" + url.QueryEscape(created(100)) + "&until=" + url.QueryEscape(created(110)), 500, func(i int, _ *store.Delivery) bool { return i >= 100 && i < 110 }},
		{"unknown destination", "destination_id=dst_nope", 500, func(int, *store.Delivery) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.listDeliveries(t, token, tt.query, tt.limit)
			var ids []string
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if w := want(tt.keep); !slices.Equal(ids, w) {
				t.Errorf("%d deliveries, want %d (first %v, want %v)", len(ids), len(w), ids[:min(3, len(ids))], w[:min(3, len(w))])
			}
		})
	}
	if n := len(e.listDeliveries(t, token, "", 500)); n != 1200 {
		t.Fatalf("%d deliveries in all, want 1200", n)
	}

	// The shape of one delivery of each kind, field by field.
	resp, body := e.apiGet(t, "/api/v1/deliveries?limit=10", token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var raw struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, item := range raw.Data {
		for _, k := range contractDeliveryKeys {
			if _, ok := item[k]; !ok {
				t.Errorf("delivery %s lacks %q", item["id"], k)
			}
		}
	}
	var list struct {
		Data []deliveryJSON `json:"data"`
	}
	json.Unmarshal([]byte(body), &list)
	for _, d := range list.Data {
		i := slices.IndexFunc(h.All, func(x *store.Delivery) bool { return x.ID == d.ID })
		src := h.All[i]
		status, test := historyStatus(i)
		if d.Status != status || d.Test != test || d.Key != src.Key || d.Events != src.Events || d.MappingID != src.MappingID ||
			!d.CreatedAt.Equal(src.CreatedAt) || d.FirstEventAt == nil || !d.FirstEventAt.Equal(src.FirstEventAt) {
			t.Errorf("delivery %d = %+v, want %s test=%v like %+v", i, d, status, test, src)
		}
		if delivered := d.DeliveredAt != nil; delivered != (status == store.StatusDelivered) {
			t.Errorf("delivery %d (%s): delivered_at %v", i, status, d.DeliveredAt)
		}
		if waits := d.NextAttemptAt != nil; waits != (status == store.StatusPending || status == store.StatusRetrying) {
			t.Errorf("delivery %d (%s): next_attempt_at %v", i, status, d.NextAttemptAt)
		}
		if (status == store.StatusFailed) != strings.HasPrefix(d.LastError, "Access Denied") {
			t.Errorf("delivery %d (%s): last_error %q", i, status, d.LastError)
		}
	}

	for _, tt := range []struct{ query, field string }{
		{"status=lost", "status"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"since=yesterday", "since"},
		{"since=" + url.QueryEscape(created(5)) + "&until=" + url.QueryEscape(created(5)), "until"},
	} {
		resp, body := e.apiGet(t, "/api/v1/deliveries?"+tt.query, token)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest || got.Error.Code != "invalid" || got.Error.Field != tt.field {
			t.Errorf("GET deliveries?%s = %d %+v, want 400 invalid on %s", tt.query, resp.StatusCode, got.Error, tt.field)
		}
	}
	if resp, _ := e.apiGet(t, "/api/v1/deliveries", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
}

func TestAPIDeliveryDetailAndRetry(t *testing.T) {
	e := MustEnv(t)
	h := mustHistory(t, e, 20)
	token := e.mustToken(t)
	byStatus := func(status string, test bool) *store.Delivery {
		for i, d := range h.All {
			if s, tst := historyStatus(i); s == status && tst == test && d.DestinationID == h.AWS.ID {
				return d
			}
		}
		t.Fatalf("no %s delivery", status)
		return nil
	}
	get := func(id string) (int, deliveryJSON, string) {
		resp, body := e.apiGet(t, "/api/v1/deliveries/"+id, token)
		var d deliveryJSON
		json.Unmarshal([]byte(body), &d)
		return resp.StatusCode, d, body
	}

	failed := byStatus(store.StatusFailed, false)
	status, got, body := get(failed.ID)
	if status != http.StatusOK || got.ID != failed.ID || got.Status != "failed" || len(got.AttemptLog) != 1 {
		t.Fatalf("GET failed delivery = %d %s", status, body)
	}
	a := got.AttemptLog[0]
	if a.N != 1 || a.OK || a.HTTPStatus != 403 || a.Code != "AccessDenied" || !strings.HasPrefix(a.Message, "Access Denied") ||
		a.RequestID != "req-"+failed.ID || a.DurationMS != 250 || !a.At.Equal(failed.CreatedAt.Add(time.Second)) || a.Replica != "replica-a" {
		t.Errorf("attempt log = %+v", a)
	}
	if !strings.Contains(body, `"attempt_log":[{"n":1,"at":"`) || !strings.Contains(body, `"duration_ms":250,"ok":false,"http_status":403,"code":"AccessDenied"`) {
		t.Errorf("attempt log JSON %s does not use the contract's names", body)
	}
	pending := byStatus(store.StatusPending, false)
	if status, got, body := get(pending.ID); status != http.StatusOK || got.AttemptLog == nil || len(got.AttemptLog) != 0 || !strings.Contains(body, `"attempt_log":[]`) {
		t.Errorf("pending delivery: %d %s, want an empty attempt log", status, body)
	}
	if resp, body := e.apiGet(t, "/api/v1/deliveries/dlv_nope", token); resp.StatusCode != http.StatusNotFound || mustAPIError(t, body).Error.Code != "not_found" {
		t.Errorf("unknown delivery: %d %s", resp.StatusCode, body)
	}

	// Retry: failed and retrying deliveries become pending, others conflict.
	retrying := byStatus(store.StatusRetrying, false)
	for _, d := range []*store.Delivery{failed, retrying} {
		resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/deliveries/"+d.ID+"/retry", token, "")
		var after deliveryJSON
		json.Unmarshal([]byte(body), &after)
		if resp.StatusCode != http.StatusOK || after.Status != "pending" || after.NextAttemptAt == nil || time.Since(*after.NextAttemptAt) > time.Minute {
			t.Errorf("retry %s delivery = %d %s, want 200 pending and due now", d.Status, resp.StatusCode, body)
		}
	}
	for _, d := range []*store.Delivery{byStatus(store.StatusDelivered, false), byStatus(store.StatusDelivered, true), failed} {
		resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/deliveries/"+d.ID+"/retry", token, "")
		if resp.StatusCode != http.StatusConflict || mustAPIError(t, body).Error.Code != "conflict" {
			t.Errorf("retry %s (test %v, now pending) = %d %s, want 409 conflict", d.Status, d.Test, resp.StatusCode, body)
		}
	}
	if resp, _ := e.apiRequest(t, http.MethodPost, "/api/v1/deliveries/dlv_nope/retry", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("retry unknown delivery: %d, want 404", resp.StatusCode)
	}

	// Retry all failed deliveries of a destination.
	before := e.listDeliveries(t, token, "status=failed&destination_id="+h.Custom.ID, 500)
	resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/destinations/"+h.Custom.ID+"/retry-failed", token, "")
	if resp.StatusCode != http.StatusOK || body != fmt.Sprintf(`{"retried":%d}`+"\n", len(before)) || len(before) == 0 {
		t.Errorf("retry-failed = %d %s, want %d retried", resp.StatusCode, body, len(before))
	}
	if left := e.listDeliveries(t, token, "status=failed&destination_id="+h.Custom.ID, 500); len(left) != 0 {
		t.Errorf("%d failed deliveries left after retry-failed", len(left))
	}
	if resp, _ := e.apiRequest(t, http.MethodPost, "/api/v1/destinations/dst_nope/retry-failed", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("retry-failed of an unknown destination: %d, want 404", resp.StatusCode)
	}
}

// rows returns the delivery rows of a history page: id and status.
func deliveryRows(doc *goquery.Document) [][2]string {
	var out [][2]string
	doc.Find(`[data-testid="delivery-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-id")
		out = append(out, [2]string{id, strings.TrimSpace(s.Find(`[data-testid="status"]`).Text())})
	})
	return out
}

func TestDeliveriesPage(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	if _, body := c.get("/deliveries"); mustDoc(t, body).Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Errorf("a new install's history has no empty state")
	}
	h := mustHistory(t, e, 120)

	resp, body := c.get("/deliveries")
	doc := mustDoc(t, body)
	rows := deliveryRows(doc)
	if resp.StatusCode != http.StatusOK || len(rows) != 50 || rows[0][0] != h.All[119].ID {
		t.Fatalf("first page: %d, %d rows starting %v, want the 50 newest", resp.StatusCode, len(rows), rows[:min(1, len(rows))])
	}
	first := doc.Find(`[data-testid="delivery-row"]`).First()
	cells := first.Find("td").Map(func(_ int, s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") })
	newest := h.All[119] // 119 % 10 == 9: a delivered test file of the AWS destination
	wantCells := []string{newest.CreatedAt.Format("2006-01-02 15:04:05 UTC"), "Warehouse", "Warehouse tracks", newest.Key + " Copy", "219", "214 KiB", "delivered test", "1", "1.2 s", "", ""}
	if !slices.Equal(cells, wantCells) {
		t.Errorf("newest row = %q, want %q", cells, wantCells)
	}
	if href, _ := first.Find(`[data-testid="delivery-link"]`).Attr("href"); href != "/deliveries/"+newest.ID {
		t.Errorf("row links to %q", href)
	}
	poll := doc.Find(`[data-testid="delivery-results"]`)
	if get, _ := poll.Attr("hx-get"); get != "/deliveries" || poll.AttrOr("hx-trigger", "") != "every 5s" {
		t.Errorf("results refresh from %q every %q", get, poll.AttrOr("hx-trigger", ""))
	}
	older, _ := doc.Find(`[data-testid="older"]`).Attr("href")
	if older != "/deliveries?before="+h.All[70].ID {
		t.Errorf("Older link = %q", older)
	}
	_, body = c.get(older)
	doc = mustDoc(t, body)
	if rows := deliveryRows(doc); len(rows) != 50 || rows[0][0] != h.All[69].ID || doc.Find(`[data-testid="newest"]`).Length() != 1 ||
		doc.Find(`[data-testid="delivery-results"][hx-get]`).Length() != 0 {
		t.Errorf("second page: %d rows from %v; want 50 from the 51st newest, a Newest link and no refresh", len(rows), rows[:min(1, len(rows))])
	}

	// Filters keep their values, in the form and in every link.
	since := h.Base.Add(30 * time.Minute).Format("2006-01-02T15:04")
	q := url.Values{"destination_id": {h.AWS.ID}, "status": {"failed"}, "since": {since}}
	resp, body = c.get("/deliveries?" + q.Encode())
	doc = mustDoc(t, body)
	var wantIDs []string
	for i := 119; i >= 30; i-- {
		if s, _ := historyStatus(i); s == store.StatusFailed && h.All[i].DestinationID == h.AWS.ID {
			wantIDs = append(wantIDs, h.All[i].ID)
		}
	}
	var gotIDs []string
	for _, r := range deliveryRows(doc) {
		gotIDs = append(gotIDs, r[0])
		if r[1] != "failed" {
			t.Errorf("filtered row %s is %s", r[0], r[1])
		}
	}
	if resp.StatusCode != http.StatusOK || !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("filtered rows = %v, want %v", gotIDs, wantIDs)
	}
	if cls, _ := doc.Find(`[data-testid="delivery-row"] [data-testid="status"]`).First().Attr("class"); cls != "badge bad" {
		t.Errorf("failed badge class %q", cls)
	}
	for sel, want := range map[string]string{
		`#destination_id option[selected]`: h.AWS.ID,
		`#status option[selected]`:         "failed",
		`#mapping_id option[selected]`:     "",
	} {
		if got := doc.Find(sel).AttrOr("value", ""); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := doc.Find(`#since`).AttrOr("value", ""); got != since {
		t.Errorf("since input = %q, want %q", got, since)
	}
	if get := doc.Find(`[data-testid="delivery-results"]`).AttrOr("hx-get", ""); get != "/deliveries?"+q.Encode() {
		t.Errorf("filtered refresh URL = %q, want the filters kept", get)
	}
	groups := doc.Find(`#mapping_id optgroup`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("label", "") })
	if !slices.Equal(groups, []string{"Lake", "Warehouse"}) {
		t.Errorf("mapping groups = %v", groups)
	}

	// htmx refreshes get the results alone.
	req, _ := http.NewRequest(http.MethodGet, e.HTTP.URL+"/deliveries?"+q.Encode(), nil)
	req.Header.Set("HX-Request", "true")
	fresp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fragment := readBody(t, fresp)
	fdoc := mustDoc(t, fragment)
	if strings.Contains(fragment, "<html") || fdoc.Find(`[data-testid="delivery-results"]`).Length() != 1 || len(deliveryRows(fdoc)) != len(wantIDs) {
		t.Errorf("refresh fragment: %d rows, whole page %v", len(deliveryRows(fdoc)), strings.Contains(fragment, "<html"))
	}

	// Invalid filters come back with the message next to the field.
	resp, body = c.get("/deliveries?since=tomorrow")
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="since-error"]`).Length() != 1 || doc.Find("#since").AttrOr("value", "") != "tomorrow" {
		t.Errorf("bad since: %d, error shown %d", resp.StatusCode, doc.Find(`[data-testid="since-error"]`).Length())
	}

	// Retry all failed deliveries of a destination, with a confirmation.
	_, body = c.get("/deliveries")
	doc = mustDoc(t, body)
	forms := doc.Find(`[data-testid="retry-failed"]`)
	if forms.Length() != 2 {
		t.Fatalf("%d retry-failed forms, want one per destination with failures", forms.Length())
	}
	action := "/destinations/" + h.AWS.ID + "/retry-failed"
	form := doc.Find(`form[action="` + action + `"]`)
	if form.Length() != 1 || !strings.Contains(form.AttrOr("data-confirm", ""), "Warehouse") || form.Find("button").Text() != "Retry all failed" {
		t.Errorf("retry-failed form for Warehouse: %d forms, confirm %q", form.Length(), form.AttrOr("data-confirm", ""))
	}
	if resp, _ := c.post(action, url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("retry-failed without CSRF: %d, want 403", resp.StatusCode)
	}
	resp, _ = c.post(action, url.Values{"_csrf": {form.Find(`input[name="_csrf"]`).AttrOr("value", "")}})
	_, body = c.follow(resp)
	doc = mustDoc(t, body)
	if !strings.Contains(doc.Find(`[data-testid="flash"]`).Text(), "Retrying") || doc.Find(`form[action="`+action+`"]`).Length() != 0 {
		t.Errorf("after retry-failed: flash %q, form still there: %d", doc.Find(`[data-testid="flash"]`).Text(), doc.Find(`form[action="`+action+`"]`).Length())
	}
	failed, err := e.DB.FailedCounts(context.Background())
	if err != nil || failed[h.AWS.ID] != 0 || failed[h.Custom.ID] == 0 {
		t.Errorf("failed counts after retrying Warehouse = %v, %v", failed, err)
	}
}

func TestDeliveryDetailPage(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	aws, awsMap := e.mustDestination(t, "Warehouse", "", src.ID)
	custom, customMap := e.mustDestination(t, "Lake", "http://127.0.0.1:9", src.ID)
	now := time.Now().UTC().Truncate(time.Second)
	key := "raw/2025 01/<script>alert(1)</script>+x.csv"
	failed := mustDelivery(t, e.DB, &store.Delivery{DestinationID: aws.ID, MappingID: awsMap.ID, Key: key, Events: 3, CreatedAt: now,
		FirstEventAt: now.Add(-time.Minute), LastEventAt: now.Add(-time.Second)}, store.StatusFailed, nil)
	delivered := mustDelivery(t, e.DB, &store.Delivery{DestinationID: custom.ID, MappingID: customMap.ID, Key: "raw/ok.csv", Events: 3, CreatedAt: now},
		store.StatusDelivered, nil)

	resp, body := c.get("/deliveries/" + failed.ID)
	doc := mustDoc(t, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("detail: %d", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="delivery-key"]`).Text(); got != key || strings.Contains(body, "<script>alert") {
		t.Errorf("key shown as %q; raw script in page: %v", got, strings.Contains(body, "<script>alert"))
	}
	wantConsole := "https://s3.console.aws.amazon.com/s3/object/acme-events?region=us-east-1&prefix=raw%2F2025%2001%2F%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Bx.csv"
	if got := doc.Find(`[data-testid="console-link"]`).AttrOr("href", ""); got != wantConsole {
		t.Errorf("console link = %q, want %q", got, wantConsole)
	}
	wantRange := fmt.Sprintf("%s to %s", now.Add(-time.Minute).Format("2006-01-02 15:04:05 UTC"), now.Add(-time.Second).Format("2006-01-02 15:04:05 UTC"))
	if got := strings.Join(strings.Fields(doc.Find(`[data-testid="event-range"]`).Text()), " "); got != wantRange {
		t.Errorf("event range = %q, want %q", got, wantRange)
	}
	attempts := doc.Find(`[data-testid="attempt-row"]`)
	cells := attempts.First().Find("td").Map(func(_ int, s *goquery.Selection) string { return strings.TrimSpace(s.Text()) })
	wantCells := []string{"1", now.Add(time.Second).Format("2006-01-02 15:04:05 UTC"), "250 ms", "failed", "403", "AccessDenied",
		"Access Denied — allow s3:PutObject on the bucket", "req-" + failed.ID, "replica-a"}
	if attempts.Length() != 1 || !slices.Equal(cells, wantCells) {
		t.Errorf("attempt log: %d rows, first %q, want %q", attempts.Length(), cells, wantCells)
	}
	if got := doc.Find(`[data-testid="delivery-live"] [data-testid="status"]`).Text(); got != "failed" {
		t.Errorf("status %q", got)
	}
	if doc.Find(`[data-testid="delivery-live"][hx-get]`).Length() != 0 {
		t.Errorf("a failed delivery's page refreshes itself")
	}
	retry := doc.Find(`[data-testid="retry-form"]`)
	if retry.AttrOr("action", "") != "/deliveries/"+failed.ID+"/retry" || retry.AttrOr("method", "") != "post" || retry.Find("button").Text() != "Retry" {
		t.Fatalf("retry form: %d", retry.Length())
	}

	// Retry needs the form's token, then shows the delivery pending.
	if resp, _ := c.post("/deliveries/"+failed.ID+"/retry", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("retry without CSRF: %d, want 403", resp.StatusCode)
	}
	resp, _ = c.post("/deliveries/"+failed.ID+"/retry", url.Values{"_csrf": {retry.Find(`input[name="_csrf"]`).AttrOr("value", "")}})
	if loc := resp.Header.Get("Location"); loc != "/deliveries/"+failed.ID {
		t.Errorf("retry redirects to %q", loc)
	}
	_, body = c.follow(resp)
	doc = mustDoc(t, body)
	live := doc.Find(`[data-testid="delivery-live"]`)
	if got := live.Find(`[data-testid="status"]`).Text(); got != "pending" || live.AttrOr("hx-get", "") != "/deliveries/"+failed.ID ||
		doc.Find(`[data-testid="retry-form"]`).Length() != 0 || doc.Find(`[data-testid="flash"]`).Length() != 1 {
		t.Errorf("after retry: status %q, refresh %q, retry form %d", got, live.AttrOr("hx-get", ""), doc.Find(`[data-testid="retry-form"]`).Length())
	}
	req, _ := http.NewRequest(http.MethodGet, e.HTTP.URL+"/deliveries/"+failed.ID, nil)
	req.Header.Set("HX-Request", "true")
	fresp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fragment := readBody(t, fresp)
	if fdoc := mustDoc(t, fragment); strings.Contains(fragment, "<html") || fdoc.Find(`[data-testid="delivery-live"]`).Length() != 1 || fdoc.Find(`[data-testid="preview"]`).Length() != 0 {
		t.Errorf("refresh fragment is not the live part alone: %.200s", fragment)
	}

	// A delivered file on custom storage: no console, no retry.
	_, body = c.get("/deliveries/" + delivered.ID)
	doc = mustDoc(t, body)
	if doc.Find(`[data-testid="console-link"]`).Length() != 0 || doc.Find(`[data-testid="retry-form"]`).Length() != 0 {
		t.Errorf("delivered custom-endpoint file: console link %d, retry form %d", doc.Find(`[data-testid="console-link"]`).Length(), doc.Find(`[data-testid="retry-form"]`).Length())
	}
	tok := c.csrf("/deliveries/" + delivered.ID)
	resp, _ = c.post("/deliveries/"+delivered.ID+"/retry", url.Values{"_csrf": {tok}})
	_, body = c.follow(resp)
	if flash := mustDoc(t, body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Only failed or retrying deliveries can be retried") {
		t.Errorf("retrying a delivered file: flash %q", flash)
	}
	if resp, _ := c.get("/deliveries/dlv_nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown delivery page: %d, want 404", resp.StatusCode)
	}
}

// mustSendTracks sends n track events through the Segment batch API and
// returns their seqs, oldest first.
func (e *env) mustSendTracks(tb testing.TB, src *store.Source, prefix string, n int) []int64 {
	tb.Helper()
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"type":"track","event":"Order <b>%d</b>","userId":"u%d","messageId":"%s-%d"}`, i, i, prefix, i))
	}
	resp, body := e.ingest(tb, "/v1/batch", src.WriteKey, []byte(`{"batch":[`+strings.Join(parts, ",")+`]}`), nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	es, _, err := e.DB.ListEvents(context.Background(), store.EventFilter{SourceID: src.ID, Limit: n})
	if err != nil {
		tb.Fatal(err)
	}
	seqs := make([]int64, len(es))
	for i, ev := range es {
		seqs[len(es)-1-i] = ev.Seq
	}
	return seqs
}

func TestDeliveryPreviewShowsFirstRows(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Warehouse", "", src.ID)
	// Files are gzipped; the preview still shows text.
	m.Compression = store.CompressionGzip
	if err := e.DB.UpdateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	seqs := e.mustSendTracks(t, src, "m", 30)
	now := time.Now().UTC()
	d := mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/file.csv.gz", Events: 30, CreatedAt: now}, store.StatusDelivered, seqs)

	_, body := c.get("/deliveries/" + d.ID)
	doc := mustDoc(t, body)
	bodies := doc.Find(`[data-testid="preview-body"]`)
	if bodies.Length() != 1 {
		t.Fatalf("%d preview bodies, want 1: %s", bodies.Length(), doc.Find(`[data-testid="preview"]`).Text())
	}
	lines := strings.Split(bodies.Text(), "\n")
	want := []string{"message_id,event_name,batch_size"}
	for i := 0; i < 20; i++ {
		want = append(want, fmt.Sprintf(`"m-%d","Order <b>%d</b>","30"`, i, i))
	}
	if !slices.Equal(lines, want) {
		t.Errorf("preview lines = %q, want %q", lines, want)
	}
	if strings.Contains(body, "<b>0</b>") {
		t.Errorf("event text is not escaped in the preview")
	}
	if text := strings.Join(strings.Fields(doc.Find(`[data-testid="preview"]`).Text()), " "); !strings.Contains(text, "The first 20 rows of 30") {
		t.Errorf("preview caption: %q", text)
	}

	// Once the retention purge has taken the events, the page says so.
	last := seqs[len(seqs)-1]
	if err := e.DB.SetCursor(ctx, m.ID, store.SeqPosition(last)); err != nil {
		t.Fatal(err)
	}
	if n, err := e.DB.PurgeEvents(ctx, time.Now().Add(time.Hour), 1000); err != nil || n != 30 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	_, body = c.get("/deliveries/" + d.ID)
	doc = mustDoc(t, body)
	if got := strings.Join(strings.Fields(doc.Find(`[data-testid="preview-purged"]`).Text()), " "); !strings.HasPrefix(got, "30 events of this file are no longer stored") ||
		doc.Find(`[data-testid="preview-body"]`).Length() != 0 {
		t.Errorf("purged preview: notice %q, %d bodies", got, doc.Find(`[data-testid="preview-body"]`).Length())
	}

	// Test deliveries keep no events.
	test := mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/test.csv", Events: 1, CreatedAt: now, Test: true}, store.StatusDelivered, nil)
	_, body = c.get("/deliveries/" + test.ID)
	if got := mustDoc(t, body).Find(`[data-testid="preview-problem"]`).Text(); !strings.Contains(got, "test delivery") {
		t.Errorf("test delivery preview: %q", got)
	}
}

func TestHomeShowsDestinationActivity(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	_, body := c.get("/")
	if doc := mustDoc(t, body); doc.Find(`[data-testid="getting-started"]`).Length() != 1 || doc.Find(`[data-testid="throughput"]`).Length() != 0 {
		t.Errorf("a new install's overview lacks the getting-started steps or shows a chart")
	}

	src := e.mustSource(t, "web")
	broken, bm := e.mustDestination(t, "Warehouse", "", src.ID)
	fine, fm := e.mustDestination(t, "Lake", "http://127.0.0.1:9", src.ID)
	seqs := e.mustSendTracks(t, src, "h", 10)
	now := time.Now().UTC()
	deliveredAt := now.Add(-30 * time.Minute)
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: fine.ID, MappingID: fm.ID, Key: "a.csv", Events: 40, CreatedAt: deliveredAt.Add(-time.Second)}, store.StatusDelivered, nil)
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: broken.ID, MappingID: bm.ID, Key: "b.csv", Events: 4, CreatedAt: now}, store.StatusFailed, seqs[:4])
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: broken.ID, MappingID: bm.ID, Key: "c.csv", Events: 3, CreatedAt: now}, store.StatusFailed, seqs[4:7])
	if err := e.DB.SetCursor(ctx, bm.ID, store.SeqPosition(seqs[6])); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.SetHealth(ctx, broken.ID, store.HealthUnhealthy, "AccessDenied: grant s3:PutObject on acme-events/*"); err != nil {
		t.Fatal(err)
	}

	_, body = c.get("/")
	doc := mustDoc(t, body)
	alert := doc.Find(`[data-testid="health-alert"]`)
	if alert.Length() != 1 || !strings.Contains(alert.Text(), "Warehouse") || alert.Find(`[data-testid="health-message"]`).Text() != "AccessDenied: grant s3:PutObject on acme-events/*" {
		t.Errorf("health alert: %d, %q", alert.Length(), alert.Text())
	}
	if doc.Find(`[data-testid="getting-started"]`).Length() != 0 {
		t.Errorf("getting-started shown with a source and destinations")
	}
	row := func(id string) map[string]string {
		out := map[string]string{}
		doc.Find(`[data-testid="activity-row"][data-id="` + id + `"] [data-testid]`).Each(func(_ int, s *goquery.Selection) {
			out[s.AttrOr("data-testid", "")] = strings.TrimSpace(s.Text())
		})
		return out
	}
	// Warehouse: its backlog is its two failed files' 7 events (they are
	// not in S3) and the 3 events its mapping has not reached; its source
	// received 10 events just now.
	wantBroken := map[string]string{"health": "unhealthy", "last-delivery": "never", "backlog": "10", "per-minute": "2.0", "failures": "2"}
	if got := row(broken.ID); !maps.Equal(got, wantBroken) {
		t.Errorf("Warehouse activity = %v, want %v", got, wantBroken)
	}
	// Lake has read nothing yet: all 10 events wait.
	got := row(fine.ID)
	if got["health"] != "unknown" || got["backlog"] != "10" || got["failures"] != "0" || !strings.HasSuffix(got["last-delivery"], "minutes ago") {
		t.Errorf("Lake activity = %v", got)
	}
	lastAt := doc.Find(`[data-testid="activity-row"][data-id="`+fine.ID+`"] [data-testid="last-delivery"] time`).AttrOr("datetime", "")
	if want := deliveredAt.Add(250 * time.Millisecond).Format(time.RFC3339); lastAt != want {
		t.Errorf("Lake's last delivery at %q, want %q", lastAt, want)
	}
	if href := doc.Find(`[data-testid="activity-row"][data-id="`+broken.ID+`"] [data-testid="failures"] a`).AttrOr("href", ""); href != "/deliveries?destination_id="+broken.ID+"&status=failed" {
		t.Errorf("failures link = %q", href)
	}

	chart := doc.Find(`[data-testid="throughput-chart"]`)
	bars := chart.Find("rect.bar")
	if bars.Length() != 24 || chart.AttrOr("role", "") != "img" || chart.AttrOr("aria-labelledby", "") == "" {
		t.Fatalf("chart: %d bars, role %q", bars.Length(), chart.AttrOr("role", ""))
	}
	var withEvents []string
	bars.Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-events", "") != "0" {
			withEvents = append(withEvents, s.Find("title").Text())
		}
	})
	hour := deliveredAt.Add(250 * time.Millisecond).Truncate(time.Hour)
	wantTitle := fmt.Sprintf("%s–%s UTC: 40 events in 1 file", hour.Format("15:04"), hour.Add(time.Hour).Format("15:04"))
	if !slices.Equal(withEvents, []string{wantTitle}) {
		t.Errorf("bars with events = %q, want %q", withEvents, wantTitle)
	}
	if desc := chart.Find("desc").Text(); !strings.HasPrefix(desc, "40 events delivered in the last 24 hours") {
		t.Errorf("chart description %q", desc)
	}
	if n := doc.Find(`[data-testid="throughput-table"] tbody tr`).Length(); n != 24 {
		t.Errorf("chart table has %d rows, want 24", n)
	}

	if got := doc.Find(`[data-testid="failed-alert"]`); got.Length() != 1 || !strings.Contains(got.Text(), "2 files of Warehouse failed") {
		t.Errorf("failed files alert: %d, %q", got.Length(), got.Text())
	}

	// A later successful delivery marks the destination healthy: the health
	// alert goes; the failed files' stays until they are retried.
	if err := e.DB.SetHealth(ctx, broken.ID, store.HealthHealthy, ""); err != nil {
		t.Fatal(err)
	}
	_, body = c.get("/")
	doc = mustDoc(t, body)
	if n := doc.Find(`[data-testid="health-alert"]`).Length(); n != 0 {
		t.Errorf("%d alerts after the destination recovered", n)
	}
	if n := doc.Find(`[data-testid="failed-alert"]`).Length(); n != 1 {
		t.Errorf("%d failed files alerts after the destination recovered, want 1", n)
	}
}

// TestRetryNamesAFileWithoutKey: retrying a file whose key template gave no
// key answers 400 on key_template while the template is unchanged, and names
// and queues the file once the template is fixed.
func TestRetryNamesAFileWithoutKey(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	token := e.mustToken(t)
	src := e.mustSource(t, "web")
	dest, _ := e.mustDestination(t, "Lake", "", src.ID)
	m := &store.Mapping{DestinationID: dest.ID, Name: "objects", Enabled: true, Format: store.FormatJSON, KeyTemplate: "data.properties.order_id"}
	if err := e.DB.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	seqs := e.mustSendTracks(t, src, "nk", 1)
	d := &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "unnamed/x", Status: store.StatusFailed, LastErrorCode: store.ErrCodeNoKey,
		LastError: "The mapping's key template gave no key for this file's event."}
	if err := e.DB.SealDelivery(ctx, d, seqs, store.Position{}); err != nil {
		t.Fatal(err)
	}

	resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/deliveries/"+d.ID+"/retry", token, "")
	if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest || got.Error.Field != "key_template" || !strings.Contains(got.Error.Message, "still gives no key") {
		t.Fatalf("retry with the template unchanged = %d %s, want 400 on key_template", resp.StatusCode, body)
	}
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+dest.ID+"/mappings/"+m.ID, token,
		`{"key_template": "join('', ['orders/', data.messageId, '.json'])"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fix the template = %d %s", resp.StatusCode, body)
	}
	resp, body = e.apiRequest(t, http.MethodPost, "/api/v1/deliveries/"+d.ID+"/retry", token, "")
	var after deliveryJSON
	json.Unmarshal([]byte(body), &after)
	if resp.StatusCode != http.StatusOK || after.Status != "pending" || after.Key != "orders/nk-0.json" {
		t.Errorf("retry after the fix = %d %s, want 200 pending under orders/nk-0.json", resp.StatusCode, body)
	}
}

// TestDeliveriesPageErrorsKeysFiltersAndRetry: the history shows each
// file's last error code linked to its hint, keys with a Copy button, hides
// test sends, finds a key by part of it (in the API too) and retries a row.
func TestDeliveriesPageErrorsKeysFiltersAndRetry(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	h := mustHistory(t, e, 10) // 6 failed, 7 retrying, 9 a test
	failed := h.All[6]

	_, body := c.get("/deliveries")
	doc := mustDoc(t, body)
	row := doc.Find(`[data-testid="delivery-row"][data-id="` + failed.ID + `"]`)
	code := row.Find(`[data-testid="last-error-code"]`)
	if strings.TrimSpace(code.Text()) != "AccessDenied" || code.AttrOr("href", "") != "/deliveries/"+failed.ID+"#last-error" {
		t.Errorf("failed row's last error %q links to %q, want AccessDenied linked to the delivery's error", code.Text(), code.AttrOr("href", ""))
	}
	if id := row.Find(`.key-cell code`).AttrOr("id", ""); id == "" || row.Find(`.key-cell button[data-copy="#`+id+`"]`).Length() != 1 {
		t.Errorf("failed row's key has no Copy button")
	}
	_, detail := c.get("/deliveries/" + failed.ID)
	if mustDoc(t, detail).Find(`#last-error`).Length() != 1 {
		t.Error("the delivery page has no #last-error for the link to land on")
	}
	if n := doc.Find(`[data-testid="row-retry"]`).Length(); n != 2 {
		t.Errorf("%d rows offer Retry, want 2 (the failed and the retrying one)", n)
	}

	// Hide test sends.
	_, body = c.get("/deliveries?hide_test=1")
	doc = mustDoc(t, body)
	if n := len(deliveryRows(doc)); n != 9 || doc.Find(`[data-testid="test-badge"]`).Length() != 0 {
		t.Errorf("hide_test: %d rows, test badges %d; want 9 and none", n, doc.Find(`[data-testid="test-badge"]`).Length())
	}
	if _, ok := doc.Find(`#hide_test`).Attr("checked"); !ok {
		t.Error("the Hide test sends box is not kept checked")
	}

	// Search by key: a substring, with LIKE's wildcards taken literally.
	_, body = c.get("/deliveries?key=" + url.QueryEscape("0007"))
	if rows := deliveryRows(mustDoc(t, body)); len(rows) != 1 || rows[0][0] != h.All[7].ID {
		t.Errorf("key=0007: rows %v, want delivery 7 only", rows)
	}
	_, body = c.get("/deliveries?key=" + url.QueryEscape("%"))
	if rows := deliveryRows(mustDoc(t, body)); len(rows) != 0 {
		t.Errorf("key=%%: rows %v, want none (no key holds a %%)", rows)
	}
	token := e.mustToken(t)
	if got := e.listDeliveries(t, token, "key=tracks/0006&hide_test=1", 10); len(got) != 1 || got[0].ID != failed.ID {
		t.Errorf("API key=tracks/0006: %v, want the failed delivery", got)
	}

	// Retry from the row: back to the same filtered list.
	list := "/deliveries?status=failed"
	_, body = c.get(list)
	form := mustDoc(t, body).Find(`[data-testid="row-retry"]`)
	resp, _ := c.post(form.AttrOr("action", ""), url.Values{"_csrf": {c.csrf(list)}, "back": {form.Find(`[name="back"]`).AttrOr("value", "")}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != list {
		t.Errorf("row retry: %d to %q, want 303 to %q", resp.StatusCode, loc, list)
	}
	if d, _, err := e.DB.DeliveryByID(context.Background(), failed.ID); err != nil || d.Status == store.StatusFailed {
		t.Errorf("after retry: %v, %v; want the delivery queued again", d, err)
	}
}

// TestHomeGettingStartedLinksAndChartLeavesTestsOut: each getting-started
// step links to its page, and the chart counts no test send.
func TestHomeGettingStartedLinksAndChartLeavesTestsOut(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	_, body := c.get("/")
	doc := mustDoc(t, body)
	if href := doc.Find(`[data-testid="step-send-events"]`).AttrOr("href", ""); href != "/sources/"+src.ID+"#setup" {
		t.Errorf("Send events links to %q, want the source's snippets", href)
	}
	if href := doc.Find(`[data-testid="step-add-destination"]`).AttrOr("href", ""); href != "/destinations/new" {
		t.Errorf("Add a destination links to %q, want the wizard", href)
	}
	// The source's page has the anchor the step links to.
	_, page := c.get("/sources/" + src.ID)
	if mustDoc(t, page).Find(`#setup`).Length() != 1 {
		t.Error("the source page has no #setup section")
	}

	dest, m := e.mustDestination(t, "Warehouse", "", src.ID)
	now := time.Now().UTC().Add(-10 * time.Minute)
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/real.csv", Events: 7,
		CreatedAt: now, FirstEventAt: now, LastEventAt: now}, store.StatusDelivered, nil)
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/test.csv", Events: 50, Test: true,
		CreatedAt: now, FirstEventAt: now, LastEventAt: now}, store.StatusDelivered, nil)
	_, body = c.get("/")
	if desc := mustDoc(t, body).Find(`figure.chart desc`).Text(); !strings.HasPrefix(desc, "7 events delivered") {
		t.Errorf("chart says %q, want 7 events (the test send's 50 left out)", desc)
	}
}
