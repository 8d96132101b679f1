package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/store"
)

// MustAppender starts an event appender on db, as serve does, and stops it
// when the test ends (before the database closes).
func MustAppender(tb testing.TB, db *store.DB) *store.Appender {
	tb.Helper()
	a := db.NewAppender()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return a
}

// mustEventsEnv starts a server, an appender to store events with, and a
// signed-in dashboard client.
func mustEventsEnv(tb testing.TB) (*env, *store.Appender, *client) {
	tb.Helper()
	e := MustEnv(tb)
	c := e.client(tb)
	c.login(adminEmail, adminPassword)
	return e, MustAppender(tb, e.DB), c
}

// mustAppend stores a Segment batch of messages (JSON objects) for a source,
// as the ingestion API would, and returns the result.
func mustAppend(tb testing.TB, a *store.Appender, sourceID string, msgs ...string) store.AppendResult {
	tb.Helper()
	now := time.Now().UTC()
	req, err := store.ParseSegment([]byte(`{"batch":[`+strings.Join(msgs, ",")+`]}`), "batch", now)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := a.Append(context.Background(), sourceID, now, req.Messages, req.Drops)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// track is a track call from userID.
func track(messageID, userID, event string) string {
	return fmt.Sprintf(`{"type":"track","messageId":%q,"userId":%q,"event":%q}`, messageID, userID, event)
}

// rowsOf returns the event rows of a page: message id, source, type, name and user.
func rowsOf(doc *goquery.Document) [][]string {
	var rows [][]string
	doc.Find(`tr[data-testid="event-row"]`).Each(func(_ int, tr *goquery.Selection) {
		var cells []string
		tr.Find("td").Each(func(i int, td *goquery.Selection) {
			if i > 0 {
				cells = append(cells, cellText(td))
			}
		})
		rows = append(rows, append(cells[len(cells)-1:], cells[:len(cells)-1]...))
	})
	return rows
}

// cellText is the text of each element, with its spaces collapsed, joined by
// spaces: how a table row or a list reads.
func cellText(sel *goquery.Selection) string {
	var parts []string
	sel.Each(func(_ int, s *goquery.Selection) {
		parts = append(parts, strings.Join(strings.Fields(s.Text()), " "))
	})
	return strings.Join(parts, " ")
}

func TestEventsPageListsAndFilters(t *testing.T) {
	e, a, c := mustEventsEnv(t)

	_, body := c.get("/events")
	if link := mustDoc(t, body).Find(`[data-testid="empty-state"] a[href="/sources"]`); link.Length() != 1 {
		t.Errorf("events page without sources does not link to creating one")
	}

	web, backend := e.mustSource(t, "Web"), e.mustSource(t, "Backend")
	_, body = c.get("/events")
	doc := mustDoc(t, body)
	if doc.Find(`[data-testid="empty-state"] a[href="/sources/`+web.ID+`#setup"]`).Length() != 1 {
		t.Errorf("events page without events does not link to the setup snippets")
	}

	mustAppend(t, a, web.ID, track("m1", "u1", "Signed Up"), `{"type":"page","messageId":"m2","anonymousId":"a1","name":"Pricing"}`)
	mustAppend(t, a, backend.ID, `{"type":"identify","messageId":"m3","userId":"u2"}`, track("m4", "u2", "Order Completed"))

	tests := []struct {
		query string
		want  [][]string
	}{
		{"", [][]string{
			{"m4", "Backend", "track", "Order Completed", "u2"},
			{"m3", "Backend", "identify", "—", "u2"},
			{"m2", "Web", "page", "Pricing", "anonymous a1"},
			{"m1", "Web", "track", "Signed Up", "u1"},
		}},
		{"source_id=" + web.ID, [][]string{
			{"m2", "Web", "page", "Pricing", "anonymous a1"},
			{"m1", "Web", "track", "Signed Up", "u1"},
		}},
		{"type=track", [][]string{
			{"m4", "Backend", "track", "Order Completed", "u2"},
			{"m1", "Web", "track", "Signed Up", "u1"},
		}},
		{"source_id=" + backend.ID + "&type=identify", [][]string{
			{"m3", "Backend", "identify", "—", "u2"},
		}},
		{"source_id=" + web.ID + "&type=alias", nil},
	}
	for _, tt := range tests {
		resp, body := c.get("/events?" + tt.query)
		doc := mustDoc(t, body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /events?%s = %d", tt.query, resp.StatusCode)
			continue
		}
		if got := rowsOf(doc); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("GET /events?%s rows:\n got %v\nwant %v", tt.query, got, tt.want)
		}
		q, _ := url.ParseQuery(tt.query)
		if got, _ := doc.Find(`#filter-source option[selected]`).Attr("value"); got != q.Get("source_id") {
			t.Errorf("GET /events?%s: source %q selected", tt.query, got)
		}
		if got, _ := doc.Find(`#filter-type option[selected]`).Attr("value"); got != q.Get("type") {
			t.Errorf("GET /events?%s: type %q selected", tt.query, got)
		}
		if tt.want == nil && doc.Find(`[data-testid="no-events"]`).Length() != 1 {
			t.Errorf("GET /events?%s: no message about the empty result", tt.query)
		}
	}

	_, body = c.get("/events")
	doc = mustDoc(t, body)
	form := doc.Find(`form[data-testid="event-filters"]`)
	if method, _ := form.Attr("method"); method != "get" {
		t.Errorf("filter form method %q, want get (it must work without JavaScript)", method)
	}
	form.Find("select").Each(func(_ int, sel *goquery.Selection) {
		id, _ := sel.Attr("id")
		if doc.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("filter %q has no <label for>", id)
		}
	})
	href, _ := doc.Find(`tr[data-testid="event-row"] a`).First().Attr("href")
	seq, _ := doc.Find(`tr[data-testid="event-row"]`).First().Attr("data-seq")
	if href != "/events/"+seq {
		t.Errorf("the first row links to %q, want /events/%s", href, seq)
	}

	for query, status := range map[string]int{
		"source_id=src_nope": http.StatusNotFound,
		"type=bogus":         http.StatusBadRequest,
		"before=yesterday":   http.StatusBadRequest,
	} {
		if resp, _ := c.get("/events?" + query); resp.StatusCode != status {
			t.Errorf("GET /events?%s = %d, want %d", query, resp.StatusCode, status)
		}
	}
}

func TestEventsPagePagesAndPolls(t *testing.T) {
	e, a, c := mustEventsEnv(t)
	src := e.mustSource(t, "web")
	var msgs []string
	for i := range 60 {
		msgs = append(msgs, track(fmt.Sprintf("m%02d", i), "u", "Viewed"))
	}
	mustAppend(t, a, src.ID, msgs...)

	_, body := c.get("/events")
	doc := mustDoc(t, body)
	rows := doc.Find(`tr[data-testid="event-row"]`)
	newest, _ := rows.First().Attr("data-seq")
	last, _ := rows.Last().Attr("data-seq")
	older, _ := doc.Find(`[data-testid="older-events"]`).Attr("href")
	if rows.Length() != 50 || older != "/events?before="+last {
		t.Fatalf("first page: %d rows, older link %q; want 50 and /events?before=%s", rows.Length(), older, last)
	}
	poll, _ := doc.Find(`#events-poll`).Attr("hx-get")
	if want := "/events/rows?after=" + newest + "&shown=50"; poll != want {
		t.Errorf("live refresh polls %q, want %q", poll, want)
	}
	if live, _ := doc.Find(`[data-testid="events-status"]`).Attr("aria-live"); live != "polite" {
		t.Errorf("the live status is not an aria-live region")
	}

	_, body = c.get(older)
	doc = mustDoc(t, body)
	oldest, _ := doc.Find(`tr[data-testid="event-row"]`).Last().Attr("data-seq")
	if got := rowsOf(doc); len(got) != 10 || got[0][0] != "m09" || got[9][0] != "m00" {
		t.Errorf("second page rows = %v, want m09 … m00", got)
	}
	if doc.Find(`[data-testid="older-events"]`).Length() != 0 || doc.Find(`#events-poll`).Length() != 0 {
		t.Errorf("the last page has an older link or polls for new events")
	}
	if back, _ := doc.Find(`[data-testid="events-status"] a`).Attr("href"); back != "/events" {
		t.Errorf("an older page links back to %q, want /events", back)
	}

	// Nothing new: the poll costs an empty answer.
	resp, body := c.get(poll)
	if resp.StatusCode != http.StatusNoContent || body != "" {
		t.Errorf("poll without news = %d %q, want 204", resp.StatusCode, body)
	}

	mustAppend(t, a, src.ID, track("new-1", "u9", "Live"))
	resp, body = c.get(poll)
	doc = mustDoc(t, body)
	added := doc.Find(`tbody[hx-swap-oob="afterbegin:#event-rows"] tr`)
	next, _ := doc.Find(`#events-poll`).Attr("hx-get")
	seq, _ := added.Attr("data-seq")
	if resp.StatusCode != http.StatusOK || added.Length() != 1 || !added.HasClass("is-new") || !strings.Contains(added.Text(), "new-1") {
		t.Fatalf("poll after one event = %d, %d rows to add:\n%s", resp.StatusCode, added.Length(), body)
	}
	if want := "/events/rows?after=" + seq + "&shown=51"; next != want {
		t.Errorf("next poll %q, want %q", next, want)
	}
	if status := doc.Find(`#events-status`).Text(); !strings.Contains(status, "1 new event") {
		t.Errorf("status after one event = %q", status)
	}
	if doc.Find(`#events-live`).Length() != 0 {
		t.Errorf("a poll with one new event replaces the whole table")
	}

	// The page holds too many rows, or shows none, or more arrived than a
	// page holds: the answer replaces the table with the newest page.
	for _, query := range []string{
		"after=" + newest + "&shown=0",
		"after=" + newest + "&shown=200",
		"after=" + oldest + "&shown=50",
	} {
		_, body := c.get("/events/rows?" + query)
		doc := mustDoc(t, body)
		live := doc.Find(`section#events-live[hx-swap-oob="true"]`)
		if n := live.Find(`tr[data-testid="event-row"]`).Length(); live.Length() != 1 || n != 50 {
			t.Errorf("poll %s: replacement table with %d rows, want 50", query, n)
		}
		if older, _ := live.Find(`[data-testid="older-events"]`).Attr("href"); older == "" {
			t.Errorf("poll %s: the replacement table has no older link", query)
		}
	}
	_, body = c.get("/events/rows?after=" + oldest + "&shown=50")
	if status := mustDoc(t, body).Find(`#events-status`).Text(); !strings.Contains(status, "More than 50 new events") {
		t.Errorf("status after a flood = %q", status)
	}
	_, body = c.get("/events/rows?after=" + newest + "&shown=200")
	if fresh := mustDoc(t, body).Find(`tr.is-new`); fresh.Length() != 1 {
		t.Errorf("after a restart of the table %d rows are marked new, want the 1 that arrived", fresh.Length())
	}
}

func TestEventDetailShowsUntrustedContentAsText(t *testing.T) {
	e, a, c := mustEventsEnv(t)
	src := e.mustSource(t, "web")
	const name = `</code></pre><script>alert("name")</script>`
	msg := `{"type":"track","messageId":"evil","userId":"<img src=x onerror=alert(1)>","event":"` + strings.ReplaceAll(name, `"`, `\"`) +
		`","properties":{"html":"<script>alert(2)</script>","close":"</code></pre>","amp":"&lt;b&gt;"}}`
	mustAppend(t, a, src.ID, msg)
	events, _, err := e.DB.ListEvents(t.Context(), store.EventFilter{SourceID: src.ID})
	if err != nil || len(events) != 1 {
		t.Fatalf("stored events: %v, %v", events, err)
	}
	ev := events[0]

	for _, page := range []string{"/events", "/sources/" + src.ID, "/events/" + strconv.FormatInt(ev.Seq, 10)} {
		resp, body := c.get(page)
		doc := mustDoc(t, body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", page, resp.StatusCode)
		}
		if n := doc.Find("main script, main img").Length(); n != 0 {
			t.Errorf("GET %s: event content became %d elements", page, n)
		}
		doc.Find("script").Each(func(_ int, s *goquery.Selection) {
			if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") {
				t.Errorf("GET %s: a script that is not the dashboard's: %s", page, s.Text())
			}
		})
		if !strings.Contains(doc.Find("main").Text(), name) {
			t.Errorf("GET %s does not show the event name literally", page)
		}
	}

	_, body := c.get("/events/" + strconv.FormatInt(ev.Seq, 10))
	doc := mustDoc(t, body)
	var want bytes.Buffer
	if err := json.Indent(&want, ev.Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	if got := doc.Find(`pre code[data-testid="event-json"]`).Text(); got != want.String() {
		t.Errorf("event JSON shown as\n%s\nwant the stored message indented:\n%s", got, want.String())
	}
	if h1 := doc.Find("main h1").Text(); !strings.Contains(h1, name) {
		t.Errorf("heading %q does not show the event name literally", h1)
	}
	if doc.Find(`button[data-copy="#event-json"]`).Length() != 1 {
		t.Errorf("no copy button for the JSON")
	}
	meta := cellText(doc.Find(`[data-testid="event-meta"]`).Children())
	for _, part := range []string{"Source web", "Type track", "Message ID evil"} {
		if !strings.Contains(meta, part) {
			t.Errorf("event details %q lack %q", meta, part)
		}
	}

	for _, page := range []string{"/events/999999", "/events/0", "/events/abc"} {
		if resp, _ := c.get(page); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", page, resp.StatusCode)
		}
	}
}

func TestDroppedMessagesAndLatestEventsAreShown(t *testing.T) {
	e, a, c := mustEventsEnv(t)
	web, other := e.mustSource(t, "web"), e.mustSource(t, "other")

	_, body := c.get("/sources/" + web.ID)
	if mustDoc(t, body).Find(`[data-testid="no-drops"]`).Length() != 1 {
		t.Errorf("a source without drops does not say so")
	}
	var msgs []string
	for i := range 12 {
		msgs = append(msgs, track(fmt.Sprintf("m%02d", i), "u", "Viewed"))
	}
	msgs = append(msgs,
		`{"type":"track","event":"No user <b>"}`,
		`{"type":"track","userId":"u"}`,
		`{"type":"track","userId":"u2"}`,
	)
	if res := mustAppend(t, a, web.ID, msgs...); res.Stored != 12 {
		t.Fatalf("stored %d, want 12", res.Stored)
	}
	mustAppend(t, a, other.ID, `{"type":"identify"}`)

	_, body = c.get("/events")
	var got []string
	mustDoc(t, body).Find(`[data-testid="drops"] [data-testid="drop-row"]`).Each(func(_ int, tr *goquery.Selection) {
		href, _ := tr.Find("a").Attr("href")
		got = append(got, href+" "+cellText(tr.Children()))
	})
	want := []string{
		"/sources/" + other.ID + "#drops other " + store.DropReasonText[store.DropMissingUser] + " 1",
		"/sources/" + web.ID + "#drops web " + store.DropReasonText[store.DropMissingEvent] + " 2",
		"/sources/" + web.ID + "#drops web " + store.DropReasonText[store.DropMissingUser] + " 1",
	}
	if len(got) != len(want) {
		t.Fatalf("drops on the events page:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w+" ")
		}
		if !found {
			t.Errorf("drops on the events page lack %q:\n%s", w, strings.Join(got, "\n"))
		}
	}

	_, body = c.get("/sources/" + web.ID)
	doc := mustDoc(t, body)
	drops := doc.Find(`[data-testid="drops"] [data-testid="drop-row"]`)
	if drops.Length() != 2 {
		t.Errorf("the source page shows %d drop reasons, want 2", drops.Length())
	}
	drops.Each(func(_ int, tr *goquery.Selection) {
		count := tr.Find(`[data-testid="drop-count"]`).Text()
		example := tr.Find("code").Text()
		switch {
		case strings.Contains(tr.Text(), store.DropReasonText[store.DropMissingUser]):
			if count != "1" || !strings.Contains(example, `No user`) {
				t.Errorf("missing-user drop: count %q, example %q", count, example)
			}
		case strings.Contains(tr.Text(), store.DropReasonText[store.DropMissingEvent]):
			if count != "2" || !strings.Contains(example, `"userId"`) {
				t.Errorf("missing-event drop: count %q, example %q", count, example)
			}
		default:
			t.Errorf("unexpected drop row %q", tr.Text())
		}
	})
	if doc.Find("main b").Length() != 0 {
		t.Errorf("a dropped message's example became HTML")
	}
	latest := doc.Find(`[data-testid="latest-events"] tr[data-testid="event-row"]`)
	if latest.Length() != 10 || !strings.Contains(latest.First().Text(), "m11") {
		t.Errorf("latest events: %d rows starting %q, want the 10 newest", latest.Length(), latest.First().Text())
	}
	if all, _ := doc.Find(`[data-testid="all-events"]`).Attr("href"); all != "/events?source_id="+web.ID {
		t.Errorf("the source page links to %q for all its events", all)
	}
}

func TestAPIEventsPaginates(t *testing.T) {
	e := MustEnv(t)
	a := MustAppender(t, e.DB)
	tok := e.mustToken(t)
	web, other := e.mustSource(t, "web"), e.mustSource(t, "other")
	var msgs []string
	for i := range 7 {
		msgs = append(msgs, track(fmt.Sprintf("m%d", i), "u", "Viewed"))
	}
	mustAppend(t, a, web.ID, msgs...)
	mustAppend(t, a, other.ID, `{"type":"identify","messageId":"o1","userId":"u"}`)

	type event struct {
		ID         string                     `json:"id"`
		SourceID   string                     `json:"source_id"`
		ReceivedAt time.Time                  `json:"received_at"`
		Message    map[string]json.RawMessage `json:"message"`
	}
	var seen []string
	path := "/api/v1/events?source_id=" + web.ID + "&limit=3"
	for page := 0; ; page++ {
		resp, body := e.apiGet(t, path, tok)
		var list struct {
			Data []event `json:"data"`
			Next *string `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK || list.Next == nil {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		for _, ev := range list.Data {
			if _, err := strconv.ParseInt(ev.ID, 10, 64); err != nil || ev.SourceID != web.ID || ev.ReceivedAt.IsZero() {
				t.Errorf("event %+v: want a decimal id, source %s and a time", ev, web.ID)
			}
			var id string
			json.Unmarshal(ev.Message["messageId"], &id)
			if string(ev.Message["type"]) != `"track"` || string(ev.Message["event"]) != `"Viewed"` {
				t.Errorf("event %s message = %v, want the stored track call", ev.ID, ev.Message)
			}
			seen = append(seen, id)
		}
		if len(list.Data) > 0 && *list.Next != "" && *list.Next != list.Data[len(list.Data)-1].ID {
			t.Errorf("next = %q, want the id of the page's last event", *list.Next)
		}
		if *list.Next == "" {
			break
		}
		if page > 3 {
			t.Fatal("pagination does not end")
		}
		path = "/api/v1/events?source_id=" + web.ID + "&limit=3&before=" + *list.Next
	}
	if got := strings.Join(seen, " "); got != "m6 m5 m4 m3 m2 m1 m0" {
		t.Errorf("paged through %q, want m6 … m0", got)
	}

	resp, body := e.apiGet(t, "/api/v1/events?type=identify", tok)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"o1"`) || strings.Contains(body, `"m0"`) {
		t.Errorf("type filter: %d %s", resp.StatusCode, body)
	}
	tests := []struct {
		query  string
		status int
		code   string
		field  string
	}{
		{"source_id=src_nope", http.StatusNotFound, "not_found", ""},
		{"type=bogus", http.StatusBadRequest, "invalid", "type"},
		{"before=abc", http.StatusBadRequest, "invalid", "before"},
		{"limit=-1", http.StatusBadRequest, "invalid", "limit"},
		{"limit=ten", http.StatusBadRequest, "invalid", "limit"},
	}
	for _, tt := range tests {
		resp, body := e.apiGet(t, "/api/v1/events?"+tt.query, tok)
		got := mustAPIError(t, body)
		if resp.StatusCode != tt.status || got.Error.Code != tt.code || got.Error.Field != tt.field {
			t.Errorf("GET /api/v1/events?%s = %d %+v, want %d %s field %q", tt.query, resp.StatusCode, got.Error, tt.status, tt.code, tt.field)
		}
	}
	if resp, _ := e.apiGet(t, "/api/v1/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/events without a token = %d, want 401", resp.StatusCode)
	}
}

func TestBrowserEventsPageShowsNewEventsLive(t *testing.T) {
	e := MustEnv(t)
	a := MustAppender(t, e.DB)
	src := e.mustSource(t, "web")
	mustAppend(t, a, src.ID, track("first", "u1", "Signed Up"))
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/events"),
		chromedp.WaitVisible(`//td[text()="Signed Up"]`),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// A reload would lose this mark.
	mustRun(t, ctx, chromedp.Evaluate[bool](`window.notReloaded = true`))

	mustAppend(t, a, src.ID, track("second", "u2", "Upgraded Plan"))
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(`//td[text()="Upgraded Plan"]`)); err != nil {
		t.Fatalf("the new event did not appear: %v", err)
	}
	if !mustRun(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page reloaded to show the new event")
	}
	first := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`#event-rows tr:first-child`)))
	status := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`#events-status`)))
	if !strings.Contains(first, "Upgraded Plan") || !strings.Contains(status, "1 new event") {
		t.Errorf("after the update the first row is %q and the status %q", first, status)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#event-rows tr:first-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="event-json"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	detail := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="event-json"]`)))
	if !strings.Contains(detail, `"event": "Upgraded Plan"`) || !strings.Contains(detail, `"messageId": "second"`) {
		t.Errorf("event detail shows\n%s", detail)
	}
}

// TestEventsSearchAndTheFilesOfAnEvent: the events page finds an event by its
// message id or its userId (the API too), and an event's page lists the
// files that hold it, linked.
func TestEventsSearchAndTheFilesOfAnEvent(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Warehouse", "", src.ID)
	seqs := e.mustSendTracks(t, src, "msg", 12) // msg-i from user ui
	now := time.Now().UTC()
	file := mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/tracks/0001.csv",
		Events: 2, CreatedAt: now, FirstEventAt: now, LastEventAt: now}, store.StatusDelivered, seqs[:2])

	messageIDs := func(query string) []string {
		t.Helper()
		_, body := c.get("/events?" + query)
		var ids []string
		for _, r := range rowsOf(mustDoc(t, body)) {
			ids = append(ids, r[0])
		}
		return ids
	}
	if got := messageIDs("message_id=msg-3"); !slices.Equal(got, []string{"msg-3"}) {
		t.Errorf("message_id=msg-3: %v, want msg-3 only", got)
	}
	// u1 must not find u10 or u11.
	if got := messageIDs("user_id=u1"); !slices.Equal(got, []string{"msg-1"}) {
		t.Errorf("user_id=u1: %v, want msg-1 only", got)
	}
	if got := messageIDs("user_id=" + url.QueryEscape("u%")); len(got) != 0 {
		t.Errorf("user_id=u%%: %v, want none", got)
	}
	_, body := c.get("/events?user_id=u2")
	if v := mustDoc(t, body).Find(`#filter-user-id`).AttrOr("value", ""); v != "u2" {
		t.Errorf("user id box holds %q after the search, want u2", v)
	}
	resp, body := e.apiGet(t, "/api/v1/events?message_id=msg-5", e.mustToken(t))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"msg-5"`) || strings.Contains(body, `"msg-4"`) {
		t.Errorf("API message_id=msg-5: %d %s", resp.StatusCode, body)
	}

	// The first event is in the file; the last in none yet.
	_, body = c.get(fmt.Sprintf("/events/%d", seqs[0]))
	rows := mustDoc(t, body).Find(`[data-testid="event-delivery"]`)
	if rows.Length() != 1 || rows.AttrOr("data-id", "") != file.ID || rows.Find(`a`).AttrOr("href", "") != "/deliveries/"+file.ID ||
		!strings.Contains(rows.Text(), "raw/tracks/0001.csv") || !strings.Contains(rows.Text(), "Warehouse") {
		t.Errorf("event's files: %d rows %q, want the one file linked", rows.Length(), rows.Text())
	}
	_, body = c.get(fmt.Sprintf("/events/%d", seqs[11]))
	if mustDoc(t, body).Find(`[data-testid="no-event-deliveries"]`).Length() != 1 {
		t.Error("an event in no file does not say so")
	}
}
