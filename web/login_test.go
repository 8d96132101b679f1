package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the sign-in limiter.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(e *env) *clock {
	c := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	e.Server.SetLoginClock(c.Now)
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// peer is a browser at a chosen client address: its requests go straight to
// the server's handler with that RemoteAddr, and it keeps its cookies.
type peer struct {
	tb      testing.TB
	e       *env
	addr    string
	cookies map[string]*http.Cookie
}

func (e *env) peer(tb testing.TB, addr string) *peer {
	return &peer{tb: tb, e: e, addr: addr, cookies: map[string]*http.Cookie{}}
}

func (p *peer) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	p.tb.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.RemoteAddr = p.addr + ":40000"
	for _, ck := range p.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	rec := httptest.NewRecorder()
	p.e.Server.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		p.tb.Fatalf("%s %s from %s: status %d\n%s", method, path, p.addr, rec.Code, rec.Body.String())
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(p.cookies, ck.Name)
		} else {
			p.cookies[ck.Name] = ck
		}
	}
	return rec
}

// token loads page and returns its CSRF token.
func (p *peer) token(page string) string {
	p.tb.Helper()
	rec := p.do(http.MethodGet, page, nil)
	tok, _ := mustDoc(p.tb, rec.Body.String()).Find(`meta[name="csrf-token"]`).Attr("content")
	if tok == "" {
		p.tb.Fatalf("no csrf token on %s (status %d)", page, rec.Code)
	}
	return tok
}

// login posts the sign-in form and returns the response.
func (p *peer) login(email, password string) *httptest.ResponseRecorder {
	p.tb.Helper()
	return p.do(http.MethodPost, "/login", url.Values{"_csrf": {p.token("/login")}, "email": {email}, "password": {password}})
}

func TestLoginIsRateLimited(t *testing.T) {
	e := MustEnv(t)
	// The limiter's clock stands still: however slow bcrypt is (under -race,
	// on a busy machine), no token comes back during the test.
	newClock(e)
	c := e.client(t)
	tok := c.csrf("/login")
	var last int
	for i := 0; i < 12; i++ {
		resp, _ := c.post("/login", url.Values{"_csrf": {tok}, "email": {adminEmail}, "password": {"guess"}})
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("12th wrong attempt: status %d, want 429", last)
	}
	// Even the right password is refused while the limit holds.
	resp, body := c.post("/login", url.Values{"_csrf": {tok}, "email": {adminEmail}, "password": {adminPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts") {
		t.Errorf("right password while limited: status %d", resp.StatusCode)
	}
}

func TestLongEmailsAreRefusedAndLimiterStaysBounded(t *testing.T) {
	e := MustEnv(t)
	clk := newClock(e)
	p := e.peer(t, "192.0.2.1")
	tok := p.token("/login")

	// An email longer than any address can be is refused at once, next to
	// the field, and touches no limiter, however many arrive.
	for i := 0; i < 1000; i++ {
		email := fmt.Sprintf("%d%s@example.com", i, strings.Repeat("x", 300+i%5000))
		if i == 0 {
			email = strings.Repeat("y", 1900<<10) + "@example.com" // 1.9 MB, as in the report
		}
		rec := p.do(http.MethodPost, "/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {"guess"}})
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("email of %d bytes: status %d, want 422", len(email), rec.Code)
		}
		if i == 0 {
			doc := mustDoc(t, rec.Body.String())
			if got := strings.TrimSpace(doc.Find(`[data-testid="email-error"]`).Text()); got != "Email must be at most 254 bytes." {
				t.Errorf("message next to Email = %q", got)
			}
			if len(rec.Body.String()) > 64<<10 {
				t.Errorf("the answer to a 1.9 MB email is %d bytes: it echoes the email back", len(rec.Body.String()))
			}
		}
	}
	if got := e.Server.LoginLimiterSize(); got != 0 {
		t.Errorf("limiter keys after long emails = %d, want 0", got)
	}

	// Distinct short emails from one address: the address runs out and no
	// email, unknown or refused, gets a bucket of its own.
	for i := 0; i < 1000; i++ {
		rec := p.do(http.MethodPost, "/login", url.Values{"_csrf": {tok}, "email": {fmt.Sprintf("u%d@example.com", i)}, "password": {"guess"}})
		if want := http.StatusUnauthorized; i < 10 && rec.Code != want || i >= 10 && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: status %d", i, rec.Code)
		}
	}
	if got := e.Server.LoginLimiterSize(); got != 1 {
		t.Errorf("limiter keys after 1,000 emails from one address = %d, want 1 (the address)", got)
	}

	// A flood of distinct addresses within one refill window fills the
	// table to its cap and no further; requests still get their answers.
	const maxKeys = 100
	e.Server.SetLoginLimiterMax(maxKeys)
	for i := 0; i < 1500; i++ {
		q := e.peer(t, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		q.cookies = p.cookies
		rec := q.do(http.MethodPost, "/login", url.Values{"_csrf": {tok}, "email": {fmt.Sprintf("not-an-email-%d", i)}, "password": {"guess"}})
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("address %d: status %d", i, rec.Code)
		}
		if got := e.Server.LoginLimiterSize(); got > maxKeys {
			t.Fatalf("limiter keys = %d after %d addresses, want at most %d", got, i+1, maxKeys)
		}
	}
	// IPv6 clients count by their /64.
	for i := 0; i < 200; i++ {
		q := e.peer(t, fmt.Sprintf("[2001:db8::%x]", i+1))
		q.cookies = p.cookies
		q.do(http.MethodPost, "/login", url.Values{"_csrf": {tok}, "email": {"x"}, "password": {"guess"}})
	}
	if got := e.Server.LoginLimiterSize(); got > maxKeys {
		t.Errorf("limiter keys = %d, want at most %d", got, maxKeys)
	}
	// Once the window has passed, idle keys are swept.
	clk.Add(2 * time.Minute)
	p.do(http.MethodPost, "/login", url.Values{"_csrf": {tok}, "email": {"x"}, "password": {"guess"}})
	if got := e.Server.LoginLimiterSize(); got != 1 {
		t.Errorf("limiter keys after the window = %d, want 1", got)
	}
}

func TestStrangerCannotLockOutAdminOnKnownDevice(t *testing.T) {
	e := MustEnv(t)
	clk := newClock(e)

	// The admin signs in once from their usual browser, then signs out.
	admin := e.peer(t, "198.51.100.7")
	if rec := admin.login(adminEmail, adminPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("first sign-in: status %d", rec.Code)
	}
	if admin.cookies["s3relay_device"] == nil {
		t.Fatal("no known-device cookie after sign-in")
	}
	admin.do(http.MethodPost, "/logout", url.Values{"_csrf": {admin.token("/")}})

	// Unknown emails and refused requests are not charged to any email.
	for i := 0; i < 12; i++ {
		q := e.peer(t, fmt.Sprintf("203.0.113.%d", 100+i))
		if rec := q.login("nobody@example.com", "guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("unknown email, attempt %d: status %d, want 401", i, rec.Code)
		}
	}

	// A stranger guesses the admin's password from many addresses until the
	// email's bucket is empty.
	stranger := 0
	guess := func() int {
		stranger++
		return e.peer(t, fmt.Sprintf("203.0.113.%d", stranger)).login(adminEmail, "guess").Code
	}
	for i := 0; i < 10; i++ {
		if code := guess(); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, code)
		}
	}
	if code := guess(); code != http.StatusTooManyRequests {
		t.Fatalf("11th guess: status %d, want 429 (the email's limit)", code)
	}
	// A browser the admin never used is slowed down like the stranger...
	other := e.peer(t, "198.51.100.8")
	if rec := other.login(adminEmail, adminPassword); rec.Code != http.StatusTooManyRequests {
		t.Errorf("right password from an unknown browser while the email is limited: status %d, want 429", rec.Code)
	}
	// A known-device cookie is bound to its user's email, and cannot be forged.
	ck := *admin.cookies["s3relay_device"]
	for name, v := range map[string]string{"forged": "usr_x.99999999999.AAAA", "tampered expiry": strings.Replace(ck.Value, ".", ".9", 1)} {
		q := e.peer(t, "198.51.100.9")
		q.cookies["s3relay_device"] = &http.Cookie{Name: "s3relay_device", Value: v}
		if rec := q.login(adminEmail, adminPassword); rec.Code != http.StatusTooManyRequests {
			t.Errorf("%s device cookie: status %d, want 429", name, rec.Code)
		}
	}
	// ...but the admin's own browser signs in, and keeps signing in while
	// the stranger goes on, one guess every six seconds.
	for round := 0; round < 3; round++ {
		if rec := admin.login(adminEmail, adminPassword); rec.Code != http.StatusSeeOther {
			t.Fatalf("round %d: admin on a known device got %d, want 303\n%s", round, rec.Code, rec.Body.String())
		}
		admin.do(http.MethodPost, "/logout", url.Values{"_csrf": {admin.token("/")}})
		clk.Add(6 * time.Second)
		guess()
	}
	// The successful sign-in reset the email's bucket.
	if rec := other.login(adminEmail, adminPassword); rec.Code != http.StatusSeeOther {
		t.Errorf("after the admin's sign-in, the email's limit was not reset: status %d", rec.Code)
	}
}
