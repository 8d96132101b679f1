package web_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/store"
)

// axeSource is axe-core, copied from npm by `make assets`. Only the tests
// inject it into pages: the server never serves it.
//
//go:embed testdata/axe.min.js
var axeSource string

// pagesRig is a server with one of everything, so that every dashboard page
// has something to show.
type pagesRig struct {
	*env
	Source   *store.Source
	Dest     *store.Destination
	Mapping  *store.Mapping
	Failed   *store.Delivery
	EventSeq int64
	UserID   string
}

func mustPagesRig(tb testing.TB) *pagesRig {
	tb.Helper()
	e := MustEnv(tb)
	ctx := context.Background()
	r := &pagesRig{env: e, Source: e.mustSource(tb, "web")}
	r.Dest, r.Mapping = e.mustDestination(tb, "Warehouse", "", r.Source.ID)
	seqs := e.mustSendTracks(tb, r.Source, "msg", 3)
	r.EventSeq = seqs[0]
	now := time.Now().UTC().Add(-time.Hour)
	mustDelivery(tb, e.DB, &store.Delivery{DestinationID: r.Dest.ID, MappingID: r.Mapping.ID, Key: "raw/tracks/2026/12/01/0001-a-rather-long-object-key-name.csv",
		Events: 2, CreatedAt: now, FirstEventAt: now, LastEventAt: now}, store.StatusDelivered, seqs[:2])
	r.Failed = mustDelivery(tb, e.DB, &store.Delivery{DestinationID: r.Dest.ID, MappingID: r.Mapping.ID, Key: "raw/tracks/2026/12/01/0002.csv",
		Events: 1, CreatedAt: now.Add(time.Minute), FirstEventAt: now, LastEventAt: now}, store.StatusFailed, seqs[2:])
	mustDelivery(tb, e.DB, &store.Delivery{DestinationID: r.Dest.ID, MappingID: r.Mapping.ID, Key: "raw/tracks/test/0003.csv", Test: true,
		Events: 1, CreatedAt: now.Add(2 * time.Minute), FirstEventAt: now, LastEventAt: now}, store.StatusDelivered, nil)
	// A second destination with its only mapping off and a file retrying
	// shows the warning colours.
	lake, lakeMap := e.mustDestination(tb, "Lake", "http://127.0.0.1:9", r.Source.ID)
	lakeMap.Enabled = false
	if err := e.DB.UpdateMapping(ctx, lakeMap); err != nil {
		tb.Fatal(err)
	}
	mustDelivery(tb, e.DB, &store.Delivery{DestinationID: lake.ID, MappingID: lakeMap.ID, Key: "lake/0001.csv",
		Events: 1, CreatedAt: now, FirstEventAt: now, LastEventAt: now}, store.StatusRetrying, nil)
	// Two replicas for the settings page: one running that routes, one
	// stopped.
	for _, id := range []string{"replica-a", "replica-b"} {
		if err := e.DB.RecordReplica(ctx, id, "v1.2.3", now); err != nil {
			tb.Fatal(err)
		}
	}
	if ok, err := e.DB.AcquireLease(ctx, store.RouterLease, "replica-a", time.Hour); err != nil || !ok {
		tb.Fatal(ok, err)
	}
	if err := e.DB.ReplicaStopped(ctx, "replica-b"); err != nil {
		tb.Fatal(err)
	}
	u, err := e.DB.CreateUser(ctx, "colleague@example.com", "another long password")
	if err != nil {
		tb.Fatal(err)
	}
	r.UserID = u.ID
	return r
}

// dashboardPage is one page every check visits. New pages go in dashboardPages.
type dashboardPage struct {
	name string
	// path is where the page is; signedOut pages are visited before signing in.
	path      func(r *pagesRig) string
	signedOut bool
	// ready is a JavaScript expression true once the page has shown what it loads; "" for none.
	ready string
	// want is a JavaScript expression about the layout that must be true at every width; "" for none.
	want string
}

func fixed(p string) func(*pagesRig) string { return func(*pagesRig) string { return p } }

var dashboardPages = []dashboardPage{
	{name: "sign-in", path: fixed("/login"), signedOut: true},
	{name: "home", path: fixed("/")},
	{name: "sources", path: fixed("/sources")},
	{name: "source", path: func(r *pagesRig) string { return "/sources/" + r.Source.ID }},
	{name: "source-snippets", path: func(r *pagesRig) string { return "/sources/" + r.Source.ID + "#setup-website" }},
	{name: "source-rotate-key", path: func(r *pagesRig) string { return "/sources/" + r.Source.ID + "/rotate-key" }},
	{name: "source-delete", path: func(r *pagesRig) string { return "/sources/" + r.Source.ID + "/delete" }},
	{name: "destinations", path: fixed("/destinations")},
	{name: "wizard-new", path: fixed("/destinations/new")},
	{name: "wizard-new-bucket", path: fixed("/destinations/new/bucket")},
	{name: "destination", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID }},
	{name: "wizard-name", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/name" }},
	{name: "wizard-bucket", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/bucket" }},
	{name: "wizard-access", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/access" }},
	{name: "wizard-test", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/test" }},
	{name: "wizard-enable", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/enable" }},
	{name: "mappings", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/mappings" }},
	{name: "mapping-new", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/mappings/new" },
		ready: `document.querySelector('[data-testid="preview-body"], [data-testid="mapping-preview"]') !== null`},
	{name: "mapping-editor", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/mappings/" + r.Mapping.ID },
		ready: `document.querySelector('[data-testid="mapping-preview"]') !== null`},
	{name: "destination-delete", path: func(r *pagesRig) string { return "/destinations/" + r.Dest.ID + "/delete" }},
	{name: "deliveries", path: fixed("/deliveries"),
		// Keys stay on one line: no wrapping character by character.
		want: `document.querySelectorAll('[data-testid="delivery-link"] code').length === 4 && Array.from(document.querySelectorAll('[data-testid="delivery-link"] code')).every(c => { const r = document.createRange(); r.selectNodeContents(c); return r.getClientRects().length === 1 })`},
	{name: "delivery", path: func(r *pagesRig) string { return "/deliveries/" + r.Failed.ID }},
	{name: "events", path: fixed("/events")},
	{name: "event", path: func(r *pagesRig) string { return fmt.Sprintf("/events/%d", r.EventSeq) },
		want: `document.querySelectorAll('[data-testid="event-delivery"] code').length === 1 && Array.from(document.querySelectorAll('[data-testid="event-delivery"] code')).every(c => { const r = document.createRange(); r.selectNodeContents(c); return r.getClientRects().length === 1 })`},
	{name: "settings", path: fixed("/settings")},
	{name: "user-remove", path: func(r *pagesRig) string { return "/settings/users/" + r.UserID + "/remove" }},
	{name: "error", path: fixed("/deliveries/no-such-delivery")},
}

// pageWidths are the widths every page is checked at: a laptop and a phone.
var pageWidths = []int64{1366, 390}

// visitEveryPage signs in, then opens each page at each width and calls check.
// The setup page, which only a server without users shows, comes first from a
// server of its own.
func visitEveryPage(t *testing.T, check func(t *testing.T, ctx context.Context, p dashboardPage, width int64)) {
	setup := MustEnv(t, envOptions{noAdmin: true})
	r := mustPagesRig(t)
	// Some 25 pages at two widths, each checked by axe: more than one page's minute.
	ctx := mustBrowserFor(t, 5*time.Minute)
	for _, width := range pageWidths {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(setup.HTTP.URL+"/setup")); err != nil {
			t.Fatal(err)
		}
		check(t, ctx, dashboardPage{name: "setup"}, width)
	}
	signedIn := false
	for _, p := range dashboardPages {
		if !p.signedOut && !signedIn {
			if err := chromedp.Do(ctx, append(signInAt(r.HTTP.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))...); err != nil {
				t.Fatal(err)
			}
			signedIn = true
		}
		for _, width := range pageWidths {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(r.HTTP.URL+p.path(r))); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if p.ready != "" {
				waitFor(t, ctx, p.name+" ready", p.ready)
			}
			check(t, ctx, p, width)
		}
	}
}

// shoot saves a screenshot of the page when S3RELAY_SHOTS names a directory,
// for a person to look at (issue 14 asks for it at every release).
func shoot(t *testing.T, ctx context.Context, name string, width int64) {
	dir := os.Getenv("S3RELAY_SHOTS")
	if dir == "" {
		return
	}
	png := mustRun(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, width)), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserNoPageWiderThanTheScreen visits every dashboard page at 1366 and
// 390 px: none scrolls sideways as a whole (tables scroll inside their box).
func TestBrowserNoPageWiderThanTheScreen(t *testing.T) {
	visitEveryPage(t, func(t *testing.T, ctx context.Context, p dashboardPage, width int64) {
		name := p.name
		shoot(t, ctx, name, width)
		if p.want != "" && !mustRun(t, ctx, chromedp.Evaluate[bool](p.want)) {
			t.Errorf("%s at %d px: %s is false", name, width, p.want)
		}
		got := mustRun(t, ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		if got[0] > got[1] {
			// The outermost elements that stick out name the culprits.
			wide := mustRun(t, ctx, chromedp.Evaluate[[]string](`(() => { const out = e => e.getBoundingClientRect().right > window.innerWidth + 1; `+
				`return Array.from(document.querySelectorAll("body *")).filter(e => out(e) && !out(e.parentElement)).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right)) })()`))
			t.Errorf("%s at %d px: page is %d px wide, want at most %d; too wide: %v", name, width, got[0], got[1], wide)
		}
	})
}

// axeViolation is one rule axe-core found broken, with the elements that break it.
type axeViolation struct {
	ID    string   `json:"id"`
	Help  string   `json:"help"`
	Nodes []string `json:"nodes"`
}

// TestBrowserAccessibility runs axe-core over every dashboard page at 1366
// and 390 px and wants no violations.
func TestBrowserAccessibility(t *testing.T) {
	visitEveryPage(t, func(t *testing.T, ctx context.Context, p dashboardPage, width int64) {
		name := p.name
		mustRun(t, ctx, chromedp.Evaluate[bool](`window.axe !== undefined || (new Function(`+jsString(axeSource)+`))() || true`))
		out := mustRun(t, ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" ") + " " + (n.failureSummary || "").split("\n").slice(1, 2).join(""))}))))`, chromedp.EvalAwaitPromise))
		var vs []axeViolation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("%s: axe answered %q: %v", name, out, err)
		}
		for _, v := range vs {
			t.Errorf("%s at %d px: %s (%s) on %s", name, width, v.ID, v.Help, strings.Join(v.Nodes, "; "))
		}
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserNavigationCollapsesOnPhones: at 390 px the navigation hides
// behind a Menu button that opens it; at 1366 px it shows as it is.
func TestBrowserNavigationCollapsesOnPhones(t *testing.T) {
	e := MustEnv(t)
	ctx := MustBrowser(t)
	if err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/settings"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))...); err != nil {
		t.Fatal(err)
	}
	linksShown := `Array.from(document.querySelectorAll('[data-testid="nav"] a')).filter(a => a.offsetParent !== null).length`
	toggleShown := `document.querySelector('[data-testid="nav-toggle"]').offsetParent !== null`
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 800), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
		t.Fatal(err)
	}
	if n := mustRun(t, ctx, chromedp.Evaluate[int](linksShown)); n != 0 || !mustRun(t, ctx, chromedp.Evaluate[bool](toggleShown)) {
		t.Fatalf("at 390 px: %d links shown, Menu shown %v; want the links folded behind Menu", n, mustRun(t, ctx, chromedp.Evaluate[bool](toggleShown)))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="nav-toggle"]`))); err != nil {
		t.Fatal(err)
	}
	if n := mustRun(t, ctx, chromedp.Evaluate[int](linksShown)); n < 5 {
		t.Errorf("after Menu: %d links shown, want all", n)
	}
	if got := mustRun(t, ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="nav-toggle"]').getAttribute("aria-expanded")`)); got != "true" {
		t.Errorf("Menu aria-expanded %q after opening, want true", got)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 800), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
		t.Fatal(err)
	}
	if n := mustRun(t, ctx, chromedp.Evaluate[int](linksShown)); n < 5 || mustRun(t, ctx, chromedp.Evaluate[bool](toggleShown)) {
		t.Errorf("at 1366 px: %d links shown, Menu shown; want the links and no Menu", n)
	}
}
