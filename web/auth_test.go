package web_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestWrongPasswordShowsErrorAndSetsNoSession(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	resp, body := c.post("/login", url.Values{"_csrf": {c.csrf("/login")}, "email": {adminEmail}, "password": {"wrong password"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", resp.StatusCode)
	}
	doc := mustDoc(t, body)
	if got := strings.TrimSpace(doc.Find(`[data-testid="password-error"]`).Text()); got != "Wrong email or password." {
		t.Errorf("error next to the password = %q", got)
	}
	if got, _ := doc.Find("#email").Attr("value"); got != adminEmail {
		t.Errorf("email field = %q, want what was typed", got)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "s3relay_session" {
			t.Errorf("wrong password set a session cookie: %v", ck)
		}
	}
	if resp, _ := c.get("/settings"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("after a failed login /settings = %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestPostWithoutCSRFTokenIsForbidden(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	good := c.csrf("/settings")
	tests := []struct {
		name string
		form url.Values
	}{
		{"missing", url.Values{"token_name": {"x"}}},
		{"wrong", url.Values{"token_name": {"x"}, "_csrf": {good + "x"}}},
		{"empty", url.Values{"token_name": {"x"}, "_csrf": {""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := c.post("/settings/tokens", tt.form)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status = %d, want 403", resp.StatusCode)
			}
		})
	}
	// A login form posted without the token is refused too, before any password check.
	anon := e.client(t)
	if resp, _ := anon.post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without token: status = %d, want 403", resp.StatusCode)
	}
	toks, err := e.DB.ListTokens(t.Context())
	if err != nil || len(toks) != 0 {
		t.Errorf("tokens after forged posts = %d, %v; want none created", len(toks), err)
	}
	// The same form with its token works.
	if resp, _ := c.post("/settings/tokens", url.Values{"token_name": {"x"}, "_csrf": {good}}); resp.StatusCode != http.StatusOK {
		t.Errorf("with token: status = %d, want 200", resp.StatusCode)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tt := range []struct {
		base   string
		secure bool
	}{{"", false}, {"https://relay.example.com", true}} {
		t.Run(tt.base, func(t *testing.T) {
			e := MustEnv(t, envOptions{baseURL: tt.base})
			c := e.client(t)
			resp, _ := c.post("/login", url.Values{"_csrf": {c.csrf("/login")}, "email": {adminEmail}, "password": {adminPassword}})
			var session *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "s3relay_session" {
					session = ck
				}
			}
			if session == nil {
				t.Fatal("no session cookie after sign-in")
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure != tt.secure || session.Path != "/" {
				t.Errorf("cookie = %+v; want HttpOnly, SameSite=Lax, Secure=%v, Path=/", session, tt.secure)
			}
		})
	}
}

func TestLoginRenewsSessionAndLogoutEndsItServerSide(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	first := *c.cookie("s3relay_session")
	c.login(adminEmail, adminPassword)
	second := *c.cookie("s3relay_session")
	if first.Value == second.Value {
		t.Fatal("signing in again kept the same session id")
	}

	// The earlier session was ended when the new one began.
	old := e.client(t)
	old.http.Jar.SetCookies(mustURL(t, e.HTTP.URL), []*http.Cookie{{Name: "s3relay_session", Value: first.Value}})
	if resp, _ := old.get("/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replaced session still works: status %d", resp.StatusCode)
	}

	if resp, _ := c.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: /settings status %d", resp.StatusCode)
	}
	resp, _ := c.post("/logout", url.Values{"_csrf": {c.csrf("/settings")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout status %d", resp.StatusCode)
	}
	// Replaying the cookie captured before logout must not work: the session is gone server-side.
	replay := e.client(t)
	replay.http.Jar.SetCookies(mustURL(t, e.HTTP.URL), []*http.Cookie{{Name: "s3relay_session", Value: second.Value}})
	if resp, _ := replay.get("/settings"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("cookie replayed after logout: status %d location %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestLoginRedirectsOnlyToLocalPaths(t *testing.T) {
	e := MustEnv(t)
	for next, want := range map[string]string{
		"/settings":          "/settings",
		"//evil.example":     "/",
		"https://evil.test/": "/",
		"/\\evil.example":    "/",
	} {
		c := e.client(t)
		resp, _ := c.post("/login", url.Values{"_csrf": {c.csrf("/login")}, "email": {adminEmail}, "password": {adminPassword}, "next": {next}})
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next=%q: redirected to %q, want %q", next, got, want)
		}
	}
}

var setupCodeRE = regexp.MustCompile(`setup_code=([A-Z0-9-]+)`)

func TestSetupRefusesWrongCodeAndDisappears(t *testing.T) {
	e := MustEnv(t, envOptions{noAdmin: true})
	m := setupCodeRE.FindStringSubmatch(e.Log.String())
	if m == nil {
		t.Fatalf("no setup code in the log:\n%s", e.Log.String())
	}
	code := m[1]
	c := e.client(t)
	if resp, _ := c.get("/"); resp.Header.Get("Location") != "/setup" {
		t.Fatalf("with no user, / redirects to %q, want /setup", resp.Header.Get("Location"))
	}
	if resp, _ := c.get("/login"); resp.Header.Get("Location") != "/setup" {
		t.Errorf("with no user, /login redirects to %q, want /setup", resp.Header.Get("Location"))
	}
	tok := c.csrf("/setup")
	resp, body := c.post("/setup", url.Values{"_csrf": {tok}, "code": {"AAAA-BBBB-CCCC"}, "email": {"root@example.com"}, "password": {"long enough pw"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("wrong code: status %d, want 422", resp.StatusCode)
	}
	if msg := mustDoc(t, body).Find(`[data-testid="code-error"]`).Text(); !strings.Contains(msg, "not the setup code") {
		t.Errorf("wrong code: message %q", msg)
	}
	if n, _ := e.DB.CountUsers(t.Context()); n != 0 {
		t.Fatalf("wrong code created %d users", n)
	}
	// The right code, typed in lower case without dashes, with a short password: a field error.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	resp, body = c.post("/setup", url.Values{"_csrf": {tok}, "code": {typed}, "email": {"root@example.com"}, "password": {"short"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || mustDoc(t, body).Find(`[data-testid="password-error"]`).Length() != 1 {
		t.Errorf("short password: status %d, want 422 with a password error", resp.StatusCode)
	}
	resp, _ = c.post("/setup", url.Values{"_csrf": {tok}, "code": {typed}, "email": {"root@example.com"}, "password": {"long enough pw"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("right code: status %d location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := c.get("/"); resp.StatusCode != http.StatusOK {
		t.Errorf("after setup the admin is signed in: / status %d", resp.StatusCode)
	}
	// Once an administrator exists the setup page is gone, for everyone.
	other := e.client(t)
	if resp, _ := other.get("/setup"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("setup after an admin exists: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = other.post("/setup", url.Values{"_csrf": {other.csrf("/login")}, "code": {code}, "email": {"second@example.com"}, "password": {"long enough pw"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second setup post: status %d, want a redirect", resp.StatusCode)
	}
	if n, _ := e.DB.CountUsers(t.Context()); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestSetupCodeSurvivesRestartUntilUsed restarts the server on the same data
// dir: the code printed by the first run still works, the page states its
// format and the password rule, and once used the code is gone.
func TestSetupCodeSurvivesRestartUntilUsed(t *testing.T) {
	dir := t.TempDir()
	first := MustEnv(t, envOptions{noAdmin: true, dataDir: dir})
	m := setupCodeRE.FindStringSubmatch(first.Log.String())
	if m == nil {
		t.Fatalf("no setup code in the log:\n%s", first.Log.String())
	}
	code := m[1]
	fi, err := os.Stat(filepath.Join(dir, "setup-code"))
	if err != nil {
		t.Fatalf("setup code not kept in the data dir: %v", err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("setup-code mode = %v, want %v", got, want)
	}
	first.HTTP.Close()

	second := MustEnv(t, envOptions{noAdmin: true, dataDir: dir})
	m2 := setupCodeRE.FindStringSubmatch(second.Log.String())
	if m2 == nil || m2[1] != code {
		t.Fatalf("after a restart the log prints %v, want the same code %q", m2, code)
	}
	c := second.client(t)
	_, body := c.get("/setup")
	doc := mustDoc(t, body)
	if text := doc.Find("header").Text(); !strings.Contains(text, "12 letters and digits") {
		t.Errorf("setup page does not state the code's format: %q", text)
	}
	if text := doc.Find(`[data-testid="password-rule"]`).Text(); !strings.Contains(text, "At least 8 characters") {
		t.Errorf("password rule = %q", text)
	}
	resp, _ := c.post("/setup", url.Values{"_csrf": {c.csrf("/setup")}, "code": {code}, "email": {"root@example.com"}, "password": {"long enough pw"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("code of the first run: status %d location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := os.Stat(filepath.Join(dir, "setup-code")); !os.IsNotExist(err) {
		t.Errorf("setup-code still there after it was used: %v", err)
	}
	third := MustEnv(t, envOptions{noAdmin: true, dataDir: dir})
	if strings.Contains(third.Log.String(), "setup_code=") {
		t.Errorf("with an admin, a restart prints a setup code:\n%s", third.Log.String())
	}
}
