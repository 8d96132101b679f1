package web_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/static"
)

const pageOrigin = "https://shop.example.com"

// send makes one request with the given headers and returns the response
// with its body read.
func (e *env) send(tb testing.TB, method, path string, body []byte, header map[string]string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, e.HTTP.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		tb.Fatal(err)
	}
	return resp, readBody(tb, resp)
}

func basicAuth(key string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(key, "")
	return req.Header.Get("Authorization")
}

func hasToken(header, token string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// TestPreflightsAnsweredBeforeTheDashboard is issue 11's item 1: every
// ingestion path answers the preflights of analytics.js 2.0 and RudderStack
// with 204 and the headers they need, never the dashboard's redirect or
// CSRF cookie.
func TestPreflightsAnsweredBeforeTheDashboard(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	requested := "authorization,content-type,anonymousid,sentat,rsa-retry-attempt,rsa-since-last-attempt,rsa-since-first-attempt,rsa-retry-reason,rsa-recovered,x-retry-count"
	paths := []string{"/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch",
		"/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a", "/v1/s", "/v1/b", "/v1/m",
		"/beacon/v1/batch?writeKey=" + src.WriteKey, "/api/v1/publish", "/sourceConfig/?p=npm&v=3.34.1", "/v1/projects/" + src.WriteKey + "/settings"}
	for _, p := range paths {
		resp, body := e.send(t, http.MethodOptions, p, nil, map[string]string{
			"Origin": pageOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": requested,
		})
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("OPTIONS %s: status %d (Location %q), want 204\n%s", p, resp.StatusCode, h.Get("Location"), body)
			continue
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != pageOrigin {
			t.Errorf("OPTIONS %s: Allow-Origin %q, want %q", p, got, pageOrigin)
		}
		if !hasToken(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("OPTIONS %s: Allow-Methods %q lacks POST", p, h.Get("Access-Control-Allow-Methods"))
		}
		for _, want := range strings.Split(requested, ",") {
			if !hasToken(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("OPTIONS %s: Allow-Headers %q lacks %s", p, h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if h.Get("Access-Control-Max-Age") == "" || !hasToken(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("OPTIONS %s: Max-Age %q, Vary %q; want both", p, h.Get("Access-Control-Max-Age"), h.Values("Vary"))
		}
		if ck := h.Values("Set-Cookie"); len(ck) > 0 {
			t.Errorf("OPTIONS %s sets cookies %q: it went through the dashboard", p, ck)
		}
	}
	// A preflight naming no headers still covers those the SDKs send.
	resp, _ := e.send(t, http.MethodOptions, "/v1/t", nil, map[string]string{"Origin": pageOrigin, "Access-Control-Request-Method": "POST"})
	if !hasToken(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight without requested headers: Allow-Headers %q lacks Authorization", resp.Header.Get("Access-Control-Allow-Headers"))
	}
}

// TestCORSOnEveryIngestionResponse is item 2: successes and errors alike
// carry Access-Control-Allow-Origin and expose Retry-After, so that the SDKs
// read the status (and drop what they must) instead of seeing a network error.
func TestCORSOnEveryIngestionResponse(t *testing.T) {
	e := MustEnv(t, envOptions{maxBacklog: 1000, backlog: fixedBacklog(1000)})
	src := e.mustSource(t, "web")
	origin := map[string]string{"Origin": pageOrigin, "Content-Type": "text/plain"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range origin {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name, method, path string
		body               string
		header             map[string]string
		status             int
	}{
		{"no write key", "POST", "/v1/t", `{"userId":"u","event":"E"}`, origin, 401},
		{"unknown write key", "POST", "/v1/t", `{"userId":"u","event":"E"}`, with(map[string]string{"Authorization": basicAuth("nope")}), 401},
		{"invalid JSON", "POST", "/v1/t", `{`, with(map[string]string{"Authorization": basicAuth(src.WriteKey)}), 400},
		{"backlog", "POST", "/v1/t", `{"userId":"u","event":"E"}`, with(map[string]string{"Authorization": basicAuth(src.WriteKey)}), 429},
		{"backlog, beacon", "POST", "/beacon/v1/batch?writeKey=" + src.WriteKey, `{"batch":[{"type":"track","userId":"u","event":"E"}]}`, origin, 429},
		{"publish without key", "POST", "/api/v1/publish", `{}`, origin, 401},
		// Past the dashboard's 2 MB body limit: the routes' own limits answer.
		{"beacon over 2 MB", "POST", "/beacon/v1/batch?writeKey=" + src.WriteKey, `{"batch":[` + strings.Repeat(" ", 3<<20) + `]}`, origin, 400},
		{"publish over 2 MB", "POST", "/api/v1/publish", `{"x":"` + strings.Repeat("a", 3<<20) + `"}`, with(map[string]string{"Authorization": "Bearer " + src.WriteKey}), 400},
		{"unknown path", "POST", "/v1/nope", `{}`, origin, 404},
		{"metrics", "POST", "/v1/m", `{"series":[]}`, origin, 200},
		{"settings", "GET", "/v1/projects/" + src.WriteKey + "/settings", "", origin, 200},
	}
	for _, tt := range tests {
		resp, body := e.send(t, tt.method, tt.path, []byte(tt.body), tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d\n%s", tt.name, resp.StatusCode, tt.status, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Allow-Origin %q, want *", tt.name, got)
		}
		if !hasToken(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
			t.Errorf("%s: Expose-Headers %q lacks Retry-After", tt.name, resp.Header.Get("Access-Control-Expose-Headers"))
		}
		if tt.status == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", tt.name)
		}
	}
}

// TestSDKPathsStoreEachCallType is item 3: analytics.js 2.0's one-letter
// paths, its batches, and RudderStack's beacons, as those SDKs send them.
func TestSDKPathsStoreEachCallType(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	auth := map[string]string{"Content-Type": "text/plain", "Authorization": basicAuth(src.WriteKey), "Origin": pageOrigin}
	key := `"writeKey":"` + src.WriteKey + `"`
	calls := []struct{ path, body, wantType string }{
		{"/v1/t", `{"type":"track","event":"E","anonymousId":"a",` + key + `}`, "track"},
		{"/v1/p", `{"type":"page","name":"Home","anonymousId":"a",` + key + `}`, "page"},
		{"/v1/i", `{"type":"identify","userId":"u",` + key + `}`, "identify"},
		{"/v1/g", `{"type":"group","groupId":"g","userId":"u",` + key + `}`, "group"},
		{"/v1/a", `{"type":"alias","previousId":"a","userId":"u",` + key + `}`, "alias"},
		{"/v1/s", `{"type":"screen","name":"S","userId":"u",` + key + `}`, "screen"},
		{"/v1/b", `{"batch":[{"type":"track","event":"B","anonymousId":"a",` + key + `}],"sentAt":"2026-01-01T00:00:00Z",` + key + `}`, "track"},
	}
	for _, c := range calls {
		if resp, body := e.send(t, "POST", c.path, []byte(c.body), auth); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"success":true`) {
			t.Errorf("POST %s: %d %s", c.path, resp.StatusCode, body)
		}
	}
	// RudderStack's sendBeacon: text/plain, no Authorization, the key in the query.
	beacon := `{"batch":[{"type":"track","event":"Beacon","anonymousId":"a","messageId":"m-beacon"},{"type":"page","name":"P","anonymousId":"a"}],"sentAt":"2026-01-01T00:00:00Z"}`
	if resp, body := e.send(t, "POST", "/beacon/v1/batch?writeKey="+url.QueryEscape(src.WriteKey), []byte(beacon), map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Origin": pageOrigin}); resp.StatusCode != http.StatusOK {
		t.Errorf("beacon: %d %s", resp.StatusCode, body)
	}
	stored := e.storedEvents(t, src.ID)
	var types []string
	for _, m := range stored {
		types = append(types, m["type"].(string))
	}
	want := []string{"track", "page", "identify", "group", "alias", "screen", "track", "track", "page"}
	if !slices.Equal(types, want) {
		t.Errorf("stored types %v, want %v", types, want)
	}
	for _, tt := range []struct{ name, path string }{
		{"beacon without key", "/beacon/v1/batch"},
		{"beacon with unknown key", "/beacon/v1/batch?writeKey=nope"},
	} {
		resp, body := e.send(t, "POST", tt.path, []byte(beacon), map[string]string{"Content-Type": "text/plain"})
		if resp.StatusCode != http.StatusUnauthorized || mustAPIError(t, body).Error.Code != "unauthorized" {
			t.Errorf("%s: %d %s, want a JSON 401", tt.name, resp.StatusCode, body)
		}
	}
	if n := len(e.storedEvents(t, src.ID)); n != len(want) {
		t.Errorf("%d events stored after refused beacons, want %d", n, len(want))
	}
}

// TestUnknownIngestionPathsAnswerJSON404 is items 4 and 5: unknown paths
// under /v1 and /beacon answer in JSON (never the sign-in redirect or the
// CSRF 403), and analytics.js 2.0's metrics are accepted and not stored.
func TestUnknownIngestionPathsAnswerJSON404(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	auth := map[string]string{"Content-Type": "text/plain", "Authorization": basicAuth(src.WriteKey), "Origin": pageOrigin}
	for _, tt := range []struct{ method, path string }{
		{"POST", "/v1/nope"}, {"GET", "/v1/nope"}, {"POST", "/v1/x"}, {"POST", "/v1/track/extra"},
		{"POST", "/beacon/nope"}, {"POST", "/beacon/v1/track"}, {"GET", "/beacon/"},
		{"GET", "/v1"}, {"POST", "/v1"}, {"OPTIONS", "/v1"}, {"POST", "/beacon"}, {"GET", "/beacon"},
	} {
		resp, body := e.send(t, tt.method, tt.path, []byte(`{}`), auth)
		if resp.StatusCode != http.StatusNotFound || mustAPIError(t, body).Error.Code != "not_found" || resp.Header.Get("Location") != "" {
			t.Errorf("%s %s: %d %s, want a JSON 404", tt.method, tt.path, resp.StatusCode, body)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s %s: 404 without Access-Control-Allow-Origin", tt.method, tt.path)
		}
	}
	metrics := `{"series":[{"type":"Counter","metric":"analytics_js.invoke","value":1,"tags":{"library":"analytics.js"}}]}`
	if resp, body := e.send(t, "POST", "/v1/m", []byte(metrics), map[string]string{"Content-Type": "text/plain", "Origin": pageOrigin}); resp.StatusCode != http.StatusOK {
		t.Errorf("POST /v1/m: %d %s, want 200", resp.StatusCode, body)
	}
	if n, _ := e.DB.LastSeq(t.Context()); n != 0 {
		t.Errorf("%d events stored from metrics, want none", n)
	}
}

// TestAllowedOrigins is item 1's per-source list: set in the API and on the
// source page, it echoes allowed origins with Vary: Origin and refuses other
// pages with a readable 403, storing nothing; servers (no Origin) pass.
func TestAllowedOrigins(t *testing.T) {
	e := MustEnv(t)
	token := e.mustToken(t)
	src := e.mustSource(t, "web")
	resp, body := e.apiRequest(t, "PATCH", "/api/v1/sources/"+src.ID, token, `{"allowed_origins":["https://Shop.Example.com/","https://shop.example.com:443","http://localhost:3000"]}`)
	var got struct {
		AllowedOrigins []string `json:"allowed_origins"`
	}
	json.Unmarshal([]byte(body), &got)
	if want := []string{pageOrigin, "http://localhost:3000"}; resp.StatusCode != 200 || !slices.Equal(got.AllowedOrigins, want) {
		t.Fatalf("PATCH allowed_origins: %d %s, want %v", resp.StatusCode, body, want)
	}
	track := []byte(`{"userId":"u","event":"E"}`)
	hdr := func(origin string) map[string]string {
		h := map[string]string{"Content-Type": "text/plain", "Authorization": basicAuth(src.WriteKey)}
		if origin != "" {
			h["Origin"] = origin
		}
		return h
	}
	resp, body = e.send(t, "POST", "/v1/t", track, hdr(pageOrigin))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != pageOrigin || !hasToken(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("allowed origin: %d Allow-Origin %q Vary %q, want 200 echoing the origin with Vary: Origin\n%s",
			resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Values("Vary"), body)
	}
	if resp, body := e.send(t, "POST", "/v1/t", track, hdr("")); resp.StatusCode != 200 {
		t.Errorf("no Origin (a server): %d %s", resp.StatusCode, body)
	}
	stored := len(e.storedEvents(t, src.ID))
	for _, tt := range []struct{ path, body string }{
		{"/v1/t", string(track)},
		{"/beacon/v1/batch?writeKey=" + src.WriteKey, `{"batch":[{"type":"track","userId":"u","event":"E"}]}`},
		{"/v1/projects/" + src.WriteKey + "/settings", ""},
	} {
		method := "POST"
		if tt.body == "" {
			method = "GET"
		}
		resp, body := e.send(t, method, tt.path, []byte(tt.body), hdr("https://evil.example"))
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(mustAPIError(t, body).Error.Message, "https://evil.example") {
			t.Errorf("%s from another origin: %d %s, want a readable 403 naming the origin", tt.path, resp.StatusCode, body)
		}
	}
	if n := len(e.storedEvents(t, src.ID)); n != stored {
		t.Errorf("%d events stored, want %d: refused origins stored events", n, stored)
	}

	resp, body = e.apiRequest(t, "PATCH", "/api/v1/sources/"+src.ID, token, `{"allowed_origins":["shop.example.com/path"]}`)
	if resp.StatusCode != http.StatusBadRequest || mustAPIError(t, body).Error.Field != "allowed_origins" {
		t.Errorf("PATCH a bad origin: %d %s, want 400 on allowed_origins", resp.StatusCode, body)
	}
	resp, body = e.apiRequest(t, "POST", "/api/v1/sources", token, `{"name":"shop","allowed_origins":["https://a.example"]}`)
	json.Unmarshal([]byte(body), &got)
	if resp.StatusCode != http.StatusCreated || !slices.Equal(got.AllowedOrigins, []string{"https://a.example"}) {
		t.Errorf("POST with allowed_origins: %d %s", resp.StatusCode, body)
	}

	// The source page's form: a bad origin re-renders it, an empty list allows any origin.
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	page := "/sources/" + src.ID
	tok := c.csrf(page)
	if doc := mustDoc(t, mustGetBody(c, page)); doc.Find(`textarea#allowed_origins`).Text() != pageOrigin+"\nhttp://localhost:3000" || doc.Find(`label[for="allowed_origins"]`).Text() != "Allowed origins" {
		t.Errorf("origins form shows %q", doc.Find(`textarea#allowed_origins`).Text())
	}
	resp, body = c.post(page+"/origins", url.Values{"_csrf": {tok}, "allowed_origins": {"https://ok.example\nnot an origin"}})
	if doc := mustDoc(t, body); resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="allowed_origins-error"]`).Length() != 1 {
		t.Errorf("form with a bad origin: %d, want 422 with the message by the field", resp.StatusCode)
	}
	if resp, _ := c.post(page+"/origins", url.Values{"_csrf": {tok}, "allowed_origins": {"  \n"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("form with no origins: %d, want 303", resp.StatusCode)
	}
	resp, _ = e.send(t, "POST", "/v1/t", track, hdr("https://evil.example"))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("after clearing the list: %d Allow-Origin %q, want 200 and *", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func mustGetBody(c *client, path string) string {
	c.tb.Helper()
	_, body := c.get(path)
	return body
}

// TestSDKSettingsEndpoints is item 6: analytics.js 2.0's project settings
// and RudderStack's source config, for a page that names only this host.
func TestSDKSettingsEndpoints(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	host := strings.TrimPrefix(e.HTTP.URL, "http://")

	resp, body := e.send(t, "GET", "/v1/projects/"+src.WriteKey+"/settings", nil, map[string]string{"Origin": pageOrigin})
	var settings struct {
		Integrations map[string]struct {
			APIKey   string `json:"apiKey"`
			APIHost  string `json:"apiHost"`
			Protocol string `json:"protocol"`
		} `json:"integrations"`
		Metrics struct {
			SampleRate *float64 `json:"sampleRate"`
		} `json:"metrics"`
		RemotePlugins []any `json:"remotePlugins"`
	}
	if err := json.Unmarshal([]byte(body), &settings); err != nil || resp.StatusCode != 200 {
		t.Fatalf("settings: %d %s %v", resp.StatusCode, body, err)
	}
	seg, ok := settings.Integrations["Segment.io"]
	if !ok || len(settings.Integrations) != 1 || seg.APIHost != host+"/v1" || seg.Protocol != "http" || seg.APIKey != src.WriteKey {
		t.Errorf("settings integrations %+v, want only Segment.io at %s/v1 over http", settings.Integrations, host)
	}
	if settings.Metrics.SampleRate == nil || *settings.Metrics.SampleRate != 0 || len(settings.RemotePlugins) != 0 {
		t.Errorf("settings metrics %v, remote plugins %v; want sampling 0 and none", settings.Metrics.SampleRate, settings.RemotePlugins)
	}
	if resp, body := e.send(t, "GET", "/v1/projects/nope/settings", nil, map[string]string{"Origin": pageOrigin}); resp.StatusCode != 404 || mustAPIError(t, body).Error.Code != "not_found" {
		t.Errorf("settings of an unknown key: %d %s, want a JSON 404", resp.StatusCode, body)
	}

	cfgPath := "/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey=" + src.WriteKey + "&lockIntegrationsVersion=false&lockPluginsVersion=false"
	resp, body = e.send(t, "GET", cfgPath, nil, map[string]string{"Origin": pageOrigin, "Authorization": basicAuth(src.WriteKey)})
	var cfg struct {
		Source struct {
			ID           string         `json:"id"`
			Enabled      bool           `json:"enabled"`
			Config       map[string]any `json:"config"`
			Destinations []any          `json:"destinations"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sourceConfig: %d %s %v", resp.StatusCode, body, err)
	}
	if cfg.Source.ID != src.ID || !cfg.Source.Enabled || cfg.Source.Config == nil || cfg.Source.Destinations == nil || len(cfg.Source.Destinations) != 0 {
		t.Errorf("sourceConfig %s, want the enabled source with a config and no destinations", body)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("sourceConfig without Access-Control-Allow-Origin")
	}
	for _, tt := range []struct {
		name, auth string
		status     int
	}{
		{"unknown key", basicAuth("nope"), 404},
		{"no key", "", 401},
	} {
		h := map[string]string{"Origin": pageOrigin}
		if tt.auth != "" {
			h["Authorization"] = tt.auth
		}
		resp, body := e.send(t, "GET", "/sourceConfig/?p=npm", nil, h)
		if resp.StatusCode != tt.status {
			t.Errorf("sourceConfig, %s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
		mustAPIError(t, body)
	}
}

// TestSDKBundlesServed is item 7: the vendored bundles, loadable by pages of
// any origin, with the versioned URLs the snippets use.
func TestSDKBundlesServed(t *testing.T) {
	e := MustEnv(t)
	for _, name := range []string{"analytics-next/index.js", "rudderstack/index.js"} {
		want, err := fs.ReadFile(static.FS, "sdk/"+name)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := e.send(t, "GET", "/sdk/"+name, nil, map[string]string{"Origin": pageOrigin})
		if resp.StatusCode != 200 || body != string(want) || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Errorf("GET /sdk/%s: %d %q, %d bytes, want the vendored file", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET /sdk/%s: CORP %q, Allow-Origin %q", name, resp.Header.Get("Cross-Origin-Resource-Policy"), resp.Header.Get("Access-Control-Allow-Origin"))
		}
		// Unversioned, a bundle is revalidated on each page view, not downloaded again.
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET /sdk/%s: Cache-Control %q and no ETag: downloaded again on every page view", name, resp.Header.Get("Cache-Control"))
		} else if again, body := e.send(t, "GET", "/sdk/"+name, nil, map[string]string{"If-None-Match": etag}); again.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("GET /sdk/%s with If-None-Match %s: %d, %d bytes, want 304", name, etag, again.StatusCode, len(body))
		}
	}
	// analytics.js 2.0 loads its lazy chunks from {_cdn}/analytics-next/bundles/.
	chunks, _ := fs.Glob(static.FS, "sdk/analytics-next/bundles/*.js")
	if len(chunks) == 0 {
		t.Fatal("no analytics-next chunks vendored")
	}
	for _, ch := range chunks {
		if resp, _ := e.send(t, "GET", "/"+ch, nil, nil); resp.StatusCode != 200 {
			t.Errorf("GET /%s: %d", ch, resp.StatusCode)
		}
	}
	if resp, _ := e.send(t, "GET", "/sdk/../embed.go", nil, nil); resp.StatusCode != 404 {
		t.Errorf("GET outside sdk/: %d, want 404", resp.StatusCode)
	}
}
