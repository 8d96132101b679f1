package web_test

import (
	"encoding/json"
	"github.com/PuerkitoBio/goquery"
	"net/http"
	"strings"
	"testing"
)

func TestAPITokenAuth(t *testing.T) {
	e := MustEnv(t)
	tok, secret, err := e.DB.CreateToken(t.Context(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.apiGet(t, "/api/v1/sources", secret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live token: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Data []any  `json:"data"`
		Next string `json:"next"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || list.Data == nil {
		t.Errorf("body %s: want {\"data\": [], \"next\": \"\"}", body)
	}
	if err := e.DB.RevokeToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"revoked": secret, "missing": "", "unknown": "s3r_nope"} {
		resp, body := e.apiGet(t, "/api/v1/sources", token)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: status %d, want 401", name, resp.StatusCode)
		}
		if got := mustAPIError(t, body); got.Error.Code != "unauthorized" {
			t.Errorf("%s token: code %q", name, got.Error.Code)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s token: no WWW-Authenticate challenge", name)
		}
	}
}

func TestAPIErrorsAreJSON(t *testing.T) {
	e := MustEnv(t)
	_, secret, err := e.DB.CreateToken(t.Context(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
		code   string
		field  string
	}{
		{"/api/v1/nope", http.StatusNotFound, "not_found", ""},
		{"/api/v1/sources?limit=abc", http.StatusBadRequest, "invalid", "limit"},
		{"/api/v1/sources?limit=501", http.StatusBadRequest, "invalid", "limit"},
	}
	for _, tt := range tests {
		resp, body := e.apiGet(t, tt.path, secret)
		got := mustAPIError(t, body)
		if resp.StatusCode != tt.status || got.Error.Code != tt.code || got.Error.Field != tt.field {
			t.Errorf("GET %s = %d %+v, want %d %s field %q", tt.path, resp.StatusCode, got.Error, tt.status, tt.code, tt.field)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type %q", tt.path, ct)
		}
	}
}

func TestDashboardErrorPageAndHeaders(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	resp, body := c.get("/no-such-page")
	if resp.StatusCode != http.StatusNotFound || mustDoc(t, body).Find(`[data-testid="error-page"]`).Length() != 1 {
		t.Errorf("unknown page: status %d, want 404 with the error page", resp.StatusCode)
	}
	resp, _ = c.get("/")
	for header, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	// Every page names its icon, so browsers do not ask for /favicon.ico.
	_, body = c.get("/")
	icon, ok := mustDoc(t, body).Find(`link[rel="icon"]`).Attr("href")
	if !ok {
		t.Fatal("the page names no icon")
	}
	if resp, _ := c.get(icon); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("GET %s = %d %q, want the SVG icon", icon, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestEveryFormFieldHasALabel(t *testing.T) {
	e := MustEnv(t)
	anon, c := e.client(t), e.client(t)
	c.login(adminEmail, adminPassword)
	for _, p := range []string{"/login", "/", "/sources", "/destinations", "/deliveries", "/events", "/settings"} {
		get := c.get
		if p == "/login" {
			get = anon.get
		}
		resp, body := get(p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
			continue
		}
		doc := mustDoc(t, body)
		doc.Find("input, select, textarea").Each(func(_ int, sel *goquery.Selection) {
			if typ, _ := sel.Attr("type"); typ == "hidden" {
				return
			}
			if _, ok := sel.Attr("aria-label"); ok {
				return
			}
			id, _ := sel.Attr("id")
			if id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
				t.Errorf("%s: field %q has no <label for>", p, id)
			}
		})
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := MustEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, body := e.apiGet(t, p, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Errorf("GET %s = %d %s", p, resp.StatusCode, body)
		}
	}
	e.apiGet(t, "/login", "")
	resp, body := e.apiGet(t, "/metrics", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{"s3relay_http_request_duration_seconds_count{method=\"GET\",route=\"/login\",status=\"200\"} 1", "s3relay_build_info{version=\"test\"} 1", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	e.DB.Close()
	if resp, _ := e.apiGet(t, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database closed = %d, want 503", resp.StatusCode)
	}
}
