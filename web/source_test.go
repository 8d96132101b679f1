package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

// apiRequest calls the management API with a bearer token and a JSON body
// ("" sends none).
func (e *env) apiRequest(tb testing.TB, method, path, token, body string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, e.HTTP.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, readBody(tb, resp)
}

// mustToken creates a management API token and returns its secret.
func (e *env) mustToken(tb testing.TB) string {
	tb.Helper()
	_, secret, err := e.DB.CreateToken(tb.Context(), "test")
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

// sourceJSON is a source as CONTRACT §4 shows it.
type sourceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	WriteKey  string    `json:"write_key"`
	CreatedAt time.Time `json:"created_at"`
}

func mustSourceJSON(tb testing.TB, body string) sourceJSON {
	tb.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	// allowed_origins is issue 11's addition to CONTRACT §4.
	for _, k := range []string{"id", "name", "write_key", "created_at", "allowed_origins"} {
		if _, ok := fields[k]; !ok {
			tb.Errorf("source %s lacks %q", body, k)
		}
	}
	if len(fields) != 5 {
		tb.Errorf("source %s has %d fields, want id, name, write_key, created_at, allowed_origins", body, len(fields))
	}
	var s sourceJSON
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	return s
}

func TestAPISourceLifecycle(t *testing.T) {
	e := MustEnv(t)
	tok := e.mustToken(t)

	resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/sources", tok, `{"name":"  Web app  "}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /sources = %d %s, want 201", resp.StatusCode, body)
	}
	created := mustSourceJSON(t, body)
	if !strings.HasPrefix(created.ID, "src_") || created.Name != "Web app" || len(created.WriteKey) != store.WriteKeyLen || created.CreatedAt.IsZero() {
		t.Errorf("created source = %+v, want an id, the trimmed name, a %d-character key and a time", created, store.WriteKeyLen)
	}

	resp, body = e.apiRequest(t, http.MethodGet, "/api/v1/sources/"+created.ID, tok, "")
	if got := mustSourceJSON(t, body); resp.StatusCode != http.StatusOK || got != created {
		t.Errorf("GET /sources/{id} = %d %+v, want 200 %+v", resp.StatusCode, got, created)
	}
	resp, body = e.apiGet(t, "/api/v1/sources", tok)
	var list struct {
		Data []sourceJSON `json:"data"`
		Next *string      `json:"next"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sources = %d %s", resp.StatusCode, body)
	}
	if len(list.Data) != 1 || list.Data[0] != created || list.Next == nil || *list.Next != "" {
		t.Errorf("GET /sources = %s, want the one source and next \"\"", body)
	}

	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/sources/"+created.ID, tok, `{"name":"Web app (production)"}`)
	renamed := mustSourceJSON(t, body)
	if resp.StatusCode != http.StatusOK || renamed.Name != "Web app (production)" || renamed.WriteKey != created.WriteKey || renamed.ID != created.ID {
		t.Errorf("PATCH name = %d %+v, want 200 with the new name and the same key", resp.StatusCode, renamed)
	}
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/sources/"+created.ID, tok, `{}`)
	if got := mustSourceJSON(t, body); resp.StatusCode != http.StatusOK || got != renamed {
		t.Errorf("PATCH {} = %d %+v, want 200 and the source unchanged", resp.StatusCode, got)
	}

	resp, body = e.apiRequest(t, http.MethodPost, "/api/v1/sources/"+created.ID+"/rotate-key", tok, "")
	rotated := mustSourceJSON(t, body)
	if resp.StatusCode != http.StatusOK || rotated.WriteKey == created.WriteKey || len(rotated.WriteKey) != store.WriteKeyLen {
		t.Errorf("rotate-key = %d %+v, want 200 and a new key", resp.StatusCode, rotated)
	}
	if _, err := e.DB.SourceByWriteKey(t.Context(), created.WriteKey); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("old key after rotation: err %v, want unauthorized", err)
	}
	if src, err := e.DB.SourceByWriteKey(t.Context(), rotated.WriteKey); err != nil || src.ID != created.ID {
		t.Errorf("new key after rotation: %v, %v", src, err)
	}

	resp, body = e.apiRequest(t, http.MethodDelete, "/api/v1/sources/"+created.ID, tok, "")
	if resp.StatusCode != http.StatusNoContent || body != "" {
		t.Errorf("DELETE = %d %q, want 204 and no body", resp.StatusCode, body)
	}
	for _, call := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/sources/" + created.ID, ""},
		{http.MethodPatch, "/api/v1/sources/" + created.ID, `{"name":"x"}`},
		{http.MethodDelete, "/api/v1/sources/" + created.ID, ""},
		{http.MethodPost, "/api/v1/sources/" + created.ID + "/rotate-key", ""},
	} {
		resp, body := e.apiRequest(t, call.method, call.path, tok, call.body)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusNotFound || got.Error.Code != "not_found" {
			t.Errorf("%s %s after delete = %d %+v, want 404 not_found", call.method, call.path, resp.StatusCode, got.Error)
		}
	}
}

func TestAPISourceRejectsBadInput(t *testing.T) {
	e := MustEnv(t)
	tok := e.mustToken(t)
	src := e.mustSource(t, "web")
	long := strings.Repeat("n", 101)
	tests := []struct {
		name, method, path, body string
		field                    string
	}{
		{"unknown field on create", http.MethodPost, "/api/v1/sources", `{"name":"web","colour":"red"}`, "colour"},
		{"write key is not settable", http.MethodPost, "/api/v1/sources", `{"name":"web","write_key":"mine"}`, "write_key"},
		{"no name", http.MethodPost, "/api/v1/sources", `{}`, "name"},
		{"blank name", http.MethodPost, "/api/v1/sources", `{"name":"   "}`, "name"},
		{"name too long", http.MethodPost, "/api/v1/sources", `{"name":"` + long + `"}`, "name"},
		{"name not a string", http.MethodPost, "/api/v1/sources", `{"name":5}`, "name"},
		{"not JSON", http.MethodPost, "/api/v1/sources", `name=web`, ""},
		{"empty body", http.MethodPost, "/api/v1/sources", ``, ""},
		{"unknown field on update", http.MethodPatch, "/api/v1/sources/" + src.ID, `{"id":"src_other"}`, "id"},
		{"blank name on update", http.MethodPatch, "/api/v1/sources/" + src.ID, `{"name":""}`, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.apiRequest(t, tt.method, tt.path, tok, tt.body)
			got := mustAPIError(t, body)
			if resp.StatusCode != http.StatusBadRequest || got.Error.Code != "invalid" || got.Error.Field != tt.field {
				t.Errorf("%s %s %s = %d %+v, want 400 invalid field %q", tt.method, tt.path, tt.body, resp.StatusCode, got.Error, tt.field)
			}
		})
	}
	srcs, _, err := e.DB.ListSources(t.Context(), store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].Name != "web" {
		t.Errorf("after bad requests the sources are %v, want only the unchanged one", srcs)
	}
}

// follow fetches the target of a 303 answer.
func (c *client) follow(resp *http.Response) (*http.Response, string) {
	c.tb.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("status %d, want 303", resp.StatusCode)
	}
	return c.get(resp.Header.Get("Location"))
}

func TestDashboardSourceLifecycle(t *testing.T) {
	const base = "http://relay.example.test:9000"
	e := MustEnv(t, envOptions{baseURL: base})
	c := e.client(t)
	c.login(adminEmail, adminPassword)

	_, body := c.get("/sources")
	doc := mustDoc(t, body)
	if doc.Find(`[data-testid="empty-state"] [data-testid="new-source-form"]`).Length() != 1 {
		t.Errorf("the empty sources page lacks the create form in its empty state")
	}
	tok := c.csrf("/sources")

	resp, body := c.post("/sources", url.Values{"_csrf": {tok}, "name": {"   "}})
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="name-error"]`).Text() == "" {
		t.Errorf("blank name: status %d, want 422 with a message next to the name field", resp.StatusCode)
	}
	if inv, _ := doc.Find(`input#name`).Attr("aria-invalid"); inv != "true" {
		t.Errorf("blank name: the field is not marked invalid")
	}

	resp, _ = c.post("/sources", url.Values{"_csrf": {tok}, "name": {"Web app"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/sources/src_") {
		t.Fatalf("create: %d to %q, want 303 to the new source's page", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/sources/")
	src, err := e.DB.SourceByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = c.follow(resp)
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(doc.Find("main h1").Text()) != "Web app" {
		t.Fatalf("source page: %d, heading %q", resp.StatusCode, doc.Find("main h1").Text())
	}
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "created") {
		t.Errorf("flash after create = %q", flash)
	}
	checkSourcePage(t, doc, base, src.WriteKey)

	_, body = c.get("/sources")
	doc = mustDoc(t, body)
	row := doc.Find(`[data-testid="source-row"]`)
	if href, _ := row.Find("a").Attr("href"); row.Length() != 1 || href != "/sources/"+id {
		t.Errorf("sources list: %d rows linking to %q, want one to /sources/%s", row.Length(), href, id)
	}
	if strings.Contains(body, src.WriteKey) || !strings.Contains(row.Find("code").Text(), src.WriteKey[:6]) {
		t.Errorf("sources list shows key %q: want only the start of %q", row.Find("code").Text(), src.WriteKey)
	}

	page := "/sources/" + id
	tok = c.csrf(page)
	resp, body = c.post(page+"/rename", url.Values{"_csrf": {tok}, "name": {""}})
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="rename-form"] [data-testid="name-error"]`).Length() != 1 {
		t.Errorf("blank rename: %d, want 422 with the message in the rename form", resp.StatusCode)
	}
	resp, body = c.post(page+"/rename", url.Values{"_csrf": {tok}, "name": {"Backend"}})
	if _, body = c.follow(resp); strings.TrimSpace(mustDoc(t, body).Find("main h1").Text()) != "Backend" {
		t.Errorf("after rename the heading is %q", mustDoc(t, body).Find("main h1").Text())
	}
	if got, _ := e.DB.SourceByID(t.Context(), id); got.Name != "Backend" {
		t.Errorf("stored name after rename = %q", got.Name)
	}

	confirm := mustConfirmPage(t, c, mustDoc(t, body), "rotate-link", page+"/rotate-key")
	if !strings.Contains(confirm, "old key stops working at once") {
		t.Errorf("rotate confirmation %q does not say the old key stops working at once", confirm)
	}
	resp, _ = c.post(page+"/rotate-key", url.Values{"_csrf": {tok}})
	resp, body = c.follow(resp)
	rotated, err := e.DB.SourceByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.WriteKey == src.WriteKey {
		t.Fatal("rotate-key left the write key unchanged")
	}
	if _, err := e.DB.SourceByWriteKey(t.Context(), src.WriteKey); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("old key after rotation: %v, want unauthorized", err)
	}
	doc = mustDoc(t, body)
	checkSourcePage(t, doc, base, rotated.WriteKey)
	if strings.Contains(body, src.WriteKey) {
		t.Errorf("the source page still shows the old write key")
	}

	confirm = mustConfirmPage(t, c, doc, "delete-link", page+"/delete")
	if !strings.Contains(confirm, "stored events are deleted too") {
		t.Errorf("delete confirmation %q does not say the stored events are deleted", confirm)
	}
	if resp, _ := c.post(page+"/delete", url.Values{"name": {"no token"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete without CSRF token = %d, want 403", resp.StatusCode)
	}
	resp, _ = c.post(page+"/delete", url.Values{"_csrf": {tok}})
	if loc := resp.Header.Get("Location"); loc != "/sources" {
		t.Errorf("delete redirects to %q, want /sources", loc)
	}
	_, body = c.follow(resp)
	if flash := mustDoc(t, body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "deleted") {
		t.Errorf("flash after delete = %q", flash)
	}
	if _, err := e.DB.SourceByID(t.Context(), id); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("source after delete: %v, want not found", err)
	}
	if resp, _ := c.get(page); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET deleted source page = %d, want 404", resp.StatusCode)
	}
	if resp, _ := c.post(page+"/rotate-key", url.Values{"_csrf": {tok}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("rotate a deleted source = %d, want 404", resp.StatusCode)
	}
}

func hasAttr(s *goquery.Selection, name string) bool {
	_, ok := s.Attr(name)
	return ok
}

// checkSourcePage checks the write key box and the setup snippets of a
// source's page.
func checkSourcePage(t *testing.T, doc *goquery.Document, base, key string) {
	t.Helper()
	input := doc.Find(`input[data-testid="write-key"]`)
	id, _ := input.Attr("id")
	if v, _ := input.Attr("value"); v != key || !hasAttr(input, "readonly") {
		t.Errorf("write key input = %q, want %q, readonly", v, key)
	}
	if doc.Find(`button[data-copy="#`+id+`"]`).Length() != 1 || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
		t.Errorf("write key input %q lacks its label or copy button", id)
	}
	want := map[string][]string{
		"snippet-segment-go":   {`"github.com/segmentio/analytics-go/v3"`, `analytics.NewWithConfig("` + key + `"`, `Endpoint: "` + base + `"`},
		"snippet-segment-node": {`from '@segment/analytics-node'`, `writeKey: '` + key + `'`, `host: '` + base + `'`},
		"snippet-rudder-node":  {`require('@rudderstack/rudder-sdk-node')`, `new Analytics('` + key + `'`, `dataPlaneUrl: '` + base + `'`},
		"snippet-rudder-go":    {`"github.com/rudderlabs/analytics-go/v4"`, `analytics.NewWithConfig("` + key + `"`, `DataPlaneUrl: "` + base + `"`},
		"snippet-curl":         {`curl -u ` + key + `: `, `-H 'Content-Type: application/json'`, `-d '{"userId":"u1","event":"Signed Up"}'`, base + `/v1/track`},
		"snippet-publish":      {`-H 'Authorization: Bearer ` + key + `'`, `"topic":`, base + `/api/v1/publish`},
		// Website snippets load the SDK and its settings from this server only.
		"snippet-web-segment":          {`<script src="` + base + `/sdk/analytics-next/index.js?v=`, `writeKey: "` + key + `"`, `cdnURL: "` + base + `"`},
		"snippet-web-segment-batching": {`<script src="` + base + `/sdk/analytics-next/index.js?v=`, `strategy: 'batching'`},
		"snippet-web-rudder":           {`<script src="` + base + `/sdk/rudderstack/index.js?v=`, `load("` + key + `", "` + base + `", { configUrl: "` + base + `" })`},
		"snippet-web-rudder-beacon":    {`<script src="` + base + `/sdk/rudderstack/index.js?v=`, `useBeacon: true`},
	}
	if n := doc.Find(`[data-testid="website-snippets"] [data-testid="snippet"]`).Length(); n != 4 {
		t.Errorf("the Website tab has %d snippets, want 4", n)
	}
	for id, parts := range want {
		code := doc.Find(`code#` + id)
		if code.Length() != 1 {
			t.Errorf("snippet %s missing", id)
			continue
		}
		for _, p := range parts {
			if !strings.Contains(code.Text(), p) {
				t.Errorf("snippet %s lacks %q:\n%s", id, p, code.Text())
			}
		}
		if doc.Find(`button[data-copy="#`+id+`"]`).Length() != 1 {
			t.Errorf("snippet %s has no copy button", id)
		}
	}
	if n := doc.Find(`[data-testid="snippet"]`).Length(); n != len(want) {
		t.Errorf("%d snippets, want %d", n, len(want))
	}
}

// mustConfirmPage follows a page's link to a confirmation page, which works
// without JavaScript, and returns its message; the page's form posts to action.
func mustConfirmPage(tb testing.TB, c *client, doc *goquery.Document, testid, action string) string {
	tb.Helper()
	href := doc.Find(`a[data-testid="`+testid+`"]`).AttrOr("href", "")
	if href != action {
		tb.Fatalf("link %s goes to %q, want the confirmation page %q", testid, href, action)
	}
	resp, body := c.get(href)
	confirm := mustDoc(tb, body)
	if resp.StatusCode != http.StatusOK || confirm.Find(`form[data-testid="confirm-form"]`).AttrOr("action", "") != action {
		tb.Fatalf("confirmation page %s: status %d, want a form posting to %s", href, resp.StatusCode, action)
	}
	return confirm.Find(`[data-testid="confirm-message"]`).Text()
}
