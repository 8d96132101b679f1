package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCSRFTokenRotatesAtSignInAndSignOut(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	before := c.csrf("/login")
	if resp, _ := c.post("/login", url.Values{"_csrf": {before}, "email": {adminEmail}, "password": {adminPassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d", resp.StatusCode)
	}
	if resp, _ := c.post("/settings/tokens", url.Values{"_csrf": {before}, "token_name": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token from before sign-in, used after it: status %d, want 403", resp.StatusCode)
	}
	during := c.csrf("/settings")
	if during == before {
		t.Fatal("the token did not change at sign-in")
	}
	if resp, _ := c.post("/settings/tokens", url.Values{"_csrf": {during}, "token_name": {"x"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("token of the session: status %d, want 200", resp.StatusCode)
	}
	if resp, _ := c.post("/logout", url.Values{"_csrf": {during}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d", resp.StatusCode)
	}
	for name, tok := range map[string]string{"before sign-in": before, "of the ended session": during} {
		if resp, _ := c.post("/login", url.Values{"_csrf": {tok}, "email": {adminEmail}, "password": {adminPassword}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %s, used after sign-out: status %d, want 403", name, resp.StatusCode)
		}
	}
	after := c.csrf("/login")
	if after == before || after == during {
		t.Error("the token did not change at sign-out")
	}
	if resp, _ := c.post("/login", url.Values{"_csrf": {after}, "email": {adminEmail}, "password": {adminPassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("fresh token after sign-out: status %d, want 303", resp.StatusCode)
	}
	toks, err := e.DB.ListTokens(t.Context())
	if err != nil || len(toks) != 1 {
		t.Errorf("tokens = %d, %v; want the one made with a valid token", len(toks), err)
	}
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	tok := c.csrf("/settings")
	post := func(headers map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.HTTP.URL+"/settings/tokens", strings.NewReader(url.Values{"_csrf": {tok}, "token_name": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readBody(t, resp)
	}
	for name, h := range map[string]map[string]string{
		"other origin":          {"Origin": "https://evil.example"},
		"null origin":           {"Origin": "null"},
		"other port":            {"Origin": "http://127.0.0.1:1"},
		"cross-site fetch":      {"Sec-Fetch-Site": "cross-site"},
		"same-site fetch":       {"Sec-Fetch-Site": "same-site"},
		"own origin, but cross": {"Origin": e.HTTP.URL, "Sec-Fetch-Site": "cross-site"},
	} {
		status, body := post(h)
		if status != http.StatusForbidden || !strings.Contains(body, "came from") {
			t.Errorf("%s, valid token: status %d, want 403 saying where it came from", name, status)
		}
	}
	toks, _ := e.DB.ListTokens(t.Context())
	if len(toks) != 0 {
		t.Fatalf("cross-site requests created %d tokens", len(toks))
	}
	for name, h := range map[string]map[string]string{
		"own origin":       {"Origin": e.HTTP.URL, "Sec-Fetch-Site": "same-origin"},
		"own origin, case": {"Origin": strings.ToUpper(e.HTTP.URL[:4]) + e.HTTP.URL[4:]},
		"typed URL":        {"Sec-Fetch-Site": "none"},
		"no headers":       {},
	} {
		if status, body := post(h); status != http.StatusOK {
			i := strings.Index(body, "<main")
			t.Errorf("%s: status %d, want 200: %.600s", name, status, body[max(i, 0):])
		}
	}

	// The management API has no CSRF check: a script's Origin is no concern.
	_, secret, err := e.DB.CreateToken(t.Context(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.HTTP.URL+"/api/v1/sources", strings.NewReader(`{"name":"web"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Errorf("management API with a cross-site Origin: status %d %s, want 201", resp.StatusCode, body)
	}
}

func TestForgedFlashIsNotShown(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	u := mustURL(t, e.HTTP.URL)
	unsigned := base64.RawURLEncoding.EncodeToString([]byte("Your account is suspended: call +1 555 0100."))
	for name, v := range map[string]string{
		"unsigned":   unsigned,
		"bad MAC":    unsigned + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"empty MAC":  unsigned + ".",
		"not base64": "!!!." + unsigned,
	} {
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "s3relay_flash", Value: v, Path: "/"}})
		_, body := c.get("/settings")
		if n := mustDoc(t, body).Find(`[data-testid="flash"]`).Length(); n != 0 {
			t.Errorf("%s flash cookie was rendered", name)
		}
	}
	// The server's own flash still shows.
	resp, _ := c.post("/settings/users", url.Values{"_csrf": {c.csrf("/settings")}, "email": {"second@example.com"}, "password": {"long enough pw"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add user: status %d", resp.StatusCode)
	}
	_, body := c.get("/settings")
	if got := mustDoc(t, body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "second@example.com added") {
		t.Errorf("flash after adding a user = %q", got)
	}
}

// TestDashboardUnderAnotherNameOfTheServer: a browser that opened the
// dashboard as localhost while the base URL says 127.0.0.1 sends an Origin
// naming the host it sent the request to, and its forms work.
func TestDashboardUnderAnotherNameOfTheServer(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.base = strings.Replace(e.HTTP.URL, "127.0.0.1", "localhost", 1)
	if c.base == e.HTTP.URL {
		t.Fatalf("test server at %s, want 127.0.0.1", e.HTTP.URL)
	}
	c.login(adminEmail, adminPassword)
	tok := c.csrf("/settings")
	post := func(origin string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.base+"/settings/tokens", strings.NewReader(url.Values{"_csrf": {tok}, "token_name": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		return resp.StatusCode
	}
	if got := post(c.base); got != http.StatusOK {
		t.Errorf("Origin %s sent to %s: status %d, want 200", c.base, c.base, got)
	}
	// Another host than the one the request went to is still refused.
	if got := post(strings.Replace(c.base, "localhost", "localhost.example", 1)); got != http.StatusForbidden {
		t.Errorf("Origin of another host: status %d, want 403", got)
	}
}
