package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/web"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery"
)

// env is a running server on a fresh data dir.
type env struct {
	DB      *store.DB
	Server  *web.Server
	HTTP    *httptest.Server
	Log     *logBuffer
	DataDir string
}

type envOptions struct {
	baseURL string
	noAdmin bool
	// dataDir reuses a data dir, as a restarted server does; a fresh one when "".
	dataDir    string
	maxBacklog int64
	backlog    web.Backlogger
	replica    string
	// wrap puts a handler in front of the server, to watch requests.
	wrap func(http.Handler) http.Handler
}

// MustEnv starts a server with a fresh database; by default an administrator
// exists (adminEmail, adminPassword).
func MustEnv(tb testing.TB, opts ...envOptions) *env {
	tb.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	dir := o.dataDir
	if dir == "" {
		dir = tb.TempDir()
	}
	keys, err := store.LoadKeys(dir)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.UseKeys(keys)
	db.PasswordCost = bcrypt.MinCost // bcrypt's default cost takes a second a hash under -race
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ts := httptest.NewUnstartedServer(nil)
	base := o.baseURL
	if base == "" {
		base = "http://" + ts.Listener.Addr().String()
	}
	app := db.NewAppender()
	actx, stop := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	go func() { appDone <- app.Run(actx) }()
	tb.Cleanup(func() { stop(); <-appDone })
	srv, err := web.New(web.Config{Addr: ts.Listener.Addr().String(), BaseURL: base, Version: "test", MaxBacklog: o.maxBacklog, Replica: o.replica, DataDir: dir},
		web.Deps{DB: db, Keys: keys, Log: log, Events: app, Backlog: o.backlog})
	if err != nil {
		tb.Fatal(err)
	}
	email, password := adminEmail, adminPassword
	if o.noAdmin {
		email, password = "", ""
	}
	if err := srv.Prepare(ctx, email, password); err != nil {
		tb.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	if o.wrap != nil {
		ts.Config.Handler = o.wrap(srv.Handler())
	}
	ts.Start()
	tb.Cleanup(ts.Close)
	return &env{DB: db, Server: srv, HTTP: ts, Log: logs, DataDir: dir}
}

// client is a browser-like HTTP client: it keeps cookies and does not follow
// redirects, so tests see every 303.
type client struct {
	tb   testing.TB
	base string
	http *http.Client
}

func (e *env) client(tb testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, base: e.HTTP.URL, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get fetches a page and returns the response with its body read.
func (c *client) get(path string) (*http.Response, string) {
	c.tb.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp, readBody(c.tb, resp)
}

// post submits a form as a browser would.
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.tb.Helper()
	resp, err := c.http.PostForm(c.base+path, form)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp, readBody(c.tb, resp)
}

// csrf loads a page and returns the CSRF token of its forms.
func (c *client) csrf(path string) string {
	c.tb.Helper()
	_, body := c.get(path)
	tok, ok := mustDoc(c.tb, body).Find(`meta[name="csrf-token"]`).Attr("content")
	if !ok || tok == "" {
		c.tb.Fatalf("no csrf token on %s", path)
	}
	return tok
}

// login signs in through the login form and fails the test unless it worked.
func (c *client) login(email, password string) {
	c.tb.Helper()
	page := "/login"
	if resp, _ := c.get(page); resp.StatusCode == http.StatusSeeOther {
		page = "/" // already signed in: the login page redirects, any page has the token
	}
	resp, body := c.post("/login", url.Values{"_csrf": {c.csrf(page)}, "email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login: status %d, want 303\n%s", resp.StatusCode, body)
	}
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func readBody(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func mustDoc(tb testing.TB, body string) *goquery.Document {
	tb.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// apiError is the JSON error shape of CONTRACT §4.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func mustAPIError(tb testing.TB, body string) apiError {
	tb.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		tb.Fatalf("body %q is not a JSON error: %v", body, err)
	}
	return e
}

// apiGet calls the management API with a bearer token ("" sends none).
func (e *env) apiGet(tb testing.TB, path, token string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.HTTP.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, readBody(tb, resp)
}
