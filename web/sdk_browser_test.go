package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// sdkMode is one way a browser SDK sends events: the snippet of the source
// page that sets it up, and the calls of the test page in that SDK's words.
type sdkMode struct {
	name    string
	snippet string // id of the snippet on the source page
	// calls makes track, page, identify, group and alias calls for mode m
	// once the SDK is ready, then passes what they returned to after().
	calls string
	// after decides when the page leaves, given the calls' results: at once,
	// or (for analytics.js, which hands a call to its transport a task
	// later) once the calls are in the SDK's hands; "" when the test
	// navigates away itself.
	after string
	// hold keeps s3relay's answers to single calls until the page has left:
	// the calls are stored, but the SDK sees them cut off by the navigation
	// and sends them again from the next page.
	hold bool
	// allowOrigin sets the source's allowed origins to the page's origin,
	// so that the SDK also meets the echoed origin of a restricted source.
	allowOrigin bool
}

const segmentCalls = `analytics.ready(function () {
  after([
    analytics.track('Track ' + m, { mode: m }),
    analytics.page('Tests', 'Page ' + m, { mode: m }),
    analytics.identify('user-' + m, { mode: m }),
    analytics.group('group-' + m, { mode: m }),
    analytics.alias('alias-' + m, 'prev-' + m),
  ])
})`

const rudderCalls = `rudderanalytics.ready(function () {
  rudderanalytics.track('Track ' + m, { mode: m })
  rudderanalytics.page('Tests', 'Page ' + m, { mode: m })
  rudderanalytics.identify('user-' + m, { mode: m })
  rudderanalytics.group('group-' + m, { mode: m })
  rudderanalytics.alias('alias-' + m, 'prev-' + m)
  after([])
})`

// singleCalls are the paths of analytics.js's one-call-per-request mode.
var singleCalls = []string{"/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a"}

// TestBrowserSDKsDeliverFromAnotherOrigin is issue 11's acceptance: in real
// Chromium, a page of another loopback origin runs the source page's own
// Website snippets, unmodified analytics.js 2.0 (default and batching) and
// RudderStack's SDK (XHR and beacon) from the bundles s3relay serves, and
// makes track, page, identify, group and alias calls right before it
// navigates away. Every call lands in MinIO exactly once, and the page asks
// nothing of any host but loopback: Chromium resolves no name at all
// (--host-resolver-rules), so a request to a vendor's CDN would fail the test
// rather than be answered by the browser itself.
func TestBrowserSDKsDeliverFromAnotherOrigin(t *testing.T) {
	// What reaches s3relay, for the failure message; and the held answers
	// of the hold mode.
	var seenMu sync.Mutex
	var arrived []string
	var holdKey atomic.Value // the write key whose single calls are held
	holdKey.Store("")
	var held atomic.Int32
	release := make(chan struct{})
	e := MustEnv(t, envOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if key, _, _ := r.BasicAuth(); r.Method == http.MethodPost && key != "" && key == holdKey.Load() && slices.Contains(singleCalls, r.URL.Path) {
				// Store the call, then answer only once the page is gone.
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				held.Add(1)
				select {
				case <-release:
				case <-r.Context().Done():
				}
				maps.Copy(w.Header(), rec.Header())
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				seenMu.Lock()
				arrived = append(arrived, fmt.Sprintf("%s %s %d held %s", r.Method, r.URL.Path, rec.Code, time.Now().Format("15:04:05.000")))
				seenMu.Unlock()
				return
			}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			h.ServeHTTP(rec, r)
			seenMu.Lock()
			arrived = append(arrived, fmt.Sprintf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Now().Format("15:04:05.000")))
			seenMu.Unlock()
		})
	}})
	mi := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	const bucket = "browser-events"
	mi.MustCreateBucket(t, bucket)
	ctx := context.Background()

	// The shop: a second origin that serves the test pages.
	var pagesMu sync.Mutex
	pages := map[string]string{}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pagesMu.Lock()
		html, ok := pages[r.URL.Path]
		pagesMu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(shop.Close)

	modes := []sdkMode{
		// The calls are in flight (stored, unanswered) when the page leaves.
		{name: "segment-default", snippet: "snippet-web-segment", calls: segmentCalls, hold: true},
		// The calls wait in the batch when the page leaves: the SDK sends
		// them with a keepalive fetch, preflight included, as it goes.
		{name: "segment-batching", snippet: "snippet-web-segment-batching", calls: segmentCalls, after: "Promise.all(sent).then(next)", allowOrigin: true},
		// RudderStack queues each call in localStorage at once: the page
		// leaves right after the calls.
		{name: "rudder-xhr", snippet: "snippet-web-rudder", calls: rudderCalls, after: "next()", allowOrigin: true},
		{name: "rudder-beacon", snippet: "snippet-web-rudder-beacon", calls: rudderCalls, after: "next()"},
	}
	var sourceIDs []string
	srcOf := map[string]*store.Source{}
	for _, m := range modes {
		src := e.mustSource(t, m.name)
		if m.allowOrigin {
			var err error
			if src, err = e.DB.SetAllowedOrigins(ctx, src.ID, []string{shop.URL}); err != nil {
				t.Fatal(err)
			}
		}
		srcOf[m.name] = src
		sourceIDs = append(sourceIDs, src.ID)
	}
	dest := &store.Destination{Name: "MinIO", Enabled: true, SourceIDs: sourceIDs,
		Config:      store.DestinationConfig{Bucket: bucket, Region: mi.Region, Auth: store.AuthKeys, Endpoint: mi.Endpoint, ForcePathStyle: true},
		Credentials: store.Credentials{Key: mi.AccessKey, Secret: mi.SecretKey},
	}
	if err := e.DB.CreateDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: dest.ID, Name: "everything", Enabled: true, Format: store.FormatJSONL, Trigger: `messageId exists`,
		BatchSize: 1000, BatchMaxAgeSeconds: 1}
	if err := e.DB.CreateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	e.mustRunEngine(t)

	// The snippets come from the source page, as a user copies them.
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	for _, m := range modes {
		_, body := c.get("/sources/" + srcOf[m.name].ID)
		snippet := mustDoc(t, body).Find(`[data-testid="website-snippets"] code#` + m.snippet).Text()
		if snippet == "" {
			t.Fatalf("source page of %s has no snippet %s", m.name, m.snippet)
		}
		mode, _ := json.Marshal(m.name)
		pagesMu.Lock()
		pages["/"+m.name+"/start"] = "<!doctype html><html><head><title>Shop</title>\n" + snippet + "\n</head><body><h1>Shop</h1><script>\n" +
			"var m = " + string(mode) + "\nfunction next() { location.href = '/" + m.name + "/next' }\n" +
			"function after(sent) { " + m.after + " }\n" + m.calls + "\n</script></body></html>"
		// The next page loads the SDK again, as a site's every page does.
		pages["/"+m.name+"/next"] = "<!doctype html><html><head><title>Shop, next page</title>\n" + snippet +
			"\n</head><body><h1>Next</h1><script>window.nextPage = true</script></body></html>"
		pagesMu.Unlock()
	}

	bctx := mustBrowserFor(t, 4*time.Minute, chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"))
	var logMu sync.Mutex
	var requests, problems []string
	err := chromedp.Listen(bctx, func(ev any) {
		logMu.Lock()
		defer logMu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.Method+" "+ev.Request.URL)
		case *network.EventLoadingFailed:
			problems = append(problems, fmt.Sprintf("request %s failed: %s %s", ev.RequestID, ev.ErrorText, ev.BlockedReason))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				problems = append(problems, "exception: "+d.Text+" "+d.Exception.Description)
			} else {
				problems = append(problems, "exception: "+d.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	diagnose := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		seenMu.Lock()
		defer seenMu.Unlock()
		return "s3relay answered:\n  " + strings.Join(arrived, "\n  ") + "\nrequests:\n  " + strings.Join(requests, "\n  ") + "\nproblems:\n  " + strings.Join(problems, "\n  ") + "\nserver log:\n" + e.Log.String()
	}

	delivered := newS3Events(mi, bucket)
	for _, m := range modes {
		if m.hold {
			holdKey.Store(srcOf[m.name].WriteKey)
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(shop.URL+"/"+m.name+"/start")); err != nil {
			t.Fatalf("%s: %v\n%s", m.name, err, diagnose())
		}
		if m.hold {
			// The snippet's page call and the five calls reach s3relay; the
			// page leaves before it hears back.
			if err := waitUntil(30*time.Second, func() bool { return held.Load() >= 6 }); err != nil {
				t.Fatalf("%s: %d calls held: %v\n%s", m.name, held.Load(), err, diagnose())
			}
			holdKey.Store("")
			if err := chromedp.Do(bctx, chromedp.Navigate(shop.URL+"/"+m.name+"/next")); err != nil {
				t.Fatalf("%s: %v\n%s", m.name, err, diagnose())
			}
			close(release)
		}
		if err := waitNextPage(bctx, 30*time.Second); err != nil {
			t.Fatalf("%s: the page did not reach its next page: %v\n%s", m.name, err, diagnose())
		}
		// Stay on the next page until this mode's calls are in S3: the SDKs
		// send what the previous page left in their queues from there.
		if err := delivered.waitFor(t, wantCalls(m.name), 60*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", m.name, err, diagnose())
		}
	}

	// Exactly once: each call is in S3 once, and no message twice (the
	// snippets' own page calls included).
	all := delivered.mustRead(t)
	for _, m := range modes {
		for _, want := range wantCalls(m.name) {
			if n := countCalls(all, want); n != 1 {
				t.Errorf("%s: %s is in S3 %d times, want once", m.name, want.what, n)
			}
		}
	}
	seen := map[string]bool{}
	for _, ev := range all {
		id, _ := ev["messageId"].(string)
		if id == "" || seen[id] {
			t.Errorf("message id %q is missing or in S3 twice", id)
		}
		seen[id] = true
	}
	// Each mode's calls were stored for its own source, restricted or not.
	stored := map[string]int{}
	for _, id := range sourceIDs {
		stored[id] = len(e.storedEvents(t, id))
	}
	for _, m := range modes {
		if stored[srcOf[m.name].ID] < len(wantCalls(m.name)) {
			t.Errorf("%s: %d events stored for its source, want at least %d", m.name, stored[srcOf[m.name].ID], len(wantCalls(m.name)))
		}
	}

	// Only loopback was asked for anything, and only through the host of
	// s3relay or of the shop.
	logMu.Lock()
	defer logMu.Unlock()
	for _, r := range requests {
		_, raw, _ := strings.Cut(r, " ")
		u, err := url.Parse(raw)
		if err != nil || (u.Host != strings.TrimPrefix(e.HTTP.URL, "http://") && u.Host != strings.TrimPrefix(shop.URL, "http://")) {
			t.Errorf("the page requested %s, outside s3relay and the shop", r)
		}
	}
	// Chromium reports no requests of a page it is leaving: s3relay's own
	// record tells which paths the SDKs used.
	seenMu.Lock()
	defer seenMu.Unlock()
	var paths []string
	for _, r := range arrived {
		paths = append(paths, strings.Fields(r)[1])
	}
	// The held calls came again from the next page, and were stored once.
	again := 0
	for _, r := range arrived {
		f := strings.Fields(r)
		if f[0] == "POST" && slices.Contains(singleCalls, f[1]) && f[3] != "held" {
			again++
		}
	}
	if again < 6 {
		t.Errorf("%d single calls after the held ones, want the 6 cut off by the navigation again\n%s", again, strings.Join(arrived, "\n"))
	}
	for _, want := range []string{"/v1/projects/" + srcOf["segment-default"].WriteKey + "/settings", "/sourceConfig/",
		"/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a", "/v1/b", "/v1/track", "/v1/page", "/v1/identify", "/v1/group", "/v1/alias", "/beacon/v1/batch"} {
		if !slices.Contains(paths, want) {
			t.Errorf("no request to %s: the test did not exercise it", want)
		}
	}
}

// waitNextPage waits until the tab shows the next page of the shop. The
// start page navigates by itself, which interrupts any script the test runs
// meanwhile: such errors mean "not yet".
func waitNextPage(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		there, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.nextPage === true`))
		if err == nil && there {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("after %s: %v", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, up to limit.
func waitUntil(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// wantedCall is one call of the test page, found in S3 by its fields.
type wantedCall struct {
	what   string
	fields map[string]string
}

func wantCalls(mode string) []wantedCall {
	return []wantedCall{
		{"track", map[string]string{"type": "track", "event": "Track " + mode}},
		{"page", map[string]string{"type": "page", "name": "Page " + mode}},
		{"identify", map[string]string{"type": "identify", "userId": "user-" + mode}},
		{"group", map[string]string{"type": "group", "groupId": "group-" + mode}},
		{"alias", map[string]string{"type": "alias", "previousId": "prev-" + mode}},
	}
}

func countCalls(events []map[string]any, want wantedCall) int {
	n := 0
	for _, ev := range events {
		match := true
		for k, v := range want.fields {
			if got, _ := ev[k].(string); got != v {
				match = false
				break
			}
		}
		if match {
			n++
		}
	}
	return n
}

// s3Events reads the events of every jsonl object in a bucket.
type s3Events struct {
	mi     *miniotest.Server
	bucket string
}

func newS3Events(mi *miniotest.Server, bucket string) *s3Events {
	return &s3Events{mi: mi, bucket: bucket}
}

func (s *s3Events) mustRead(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, key := range s.mi.MustListKeys(tb, s.bucket, "") {
		sc := bufio.NewScanner(bytes.NewReader(s.mi.MustGetObject(tb, s.bucket, key)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				tb.Fatalf("object %s: %v", key, err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// waitFor waits until every wanted call is in S3, up to limit.
func (s *s3Events) waitFor(tb testing.TB, want []wantedCall, limit time.Duration) error {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		all := s.mustRead(tb)
		var missing []string
		for _, w := range want {
			if countCalls(all, w) == 0 {
				missing = append(missing, w.what)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var got []string
			for _, ev := range all {
				got = append(got, fmt.Sprintf("%v %v %v %v %v %v", ev["type"], ev["event"], ev["name"], ev["userId"], ev["previousId"], ev["messageId"]))
			}
			return fmt.Errorf("after %s, S3 lacks the %s calls; it holds:\n  %s", limit, strings.Join(missing, ", "), strings.Join(got, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statusRecorder keeps the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// TestBrowserSourcePageWebsiteTab: the source page's snippets sit in two
// tabs; the Website tab shows the browser SDK snippets and hides the
// server ones.
func TestBrowserSourcePageWebsiteTab(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/sources/"+src.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tab-server"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	visible := `[...document.querySelectorAll('[data-testid="snippet"]')].filter(d => d.offsetParent !== null).map(d => d.querySelector('summary').textContent)`
	if got := mustRun(t, ctx, chromedp.Evaluate[[]string](visible)); len(got) != 6 || strings.HasPrefix(got[0], "Website") {
		t.Errorf("before choosing a tab, the page shows %q; want the 6 server snippets", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="tab-website"]`)), chromedp.WaitVisible(chromedp.CSS(`#snippet-web-segment`))); err != nil {
		t.Fatal(err)
	}
	got := mustRun(t, ctx, chromedp.Evaluate[[]string](visible))
	if len(got) != 4 || !strings.HasPrefix(got[0], "Website") {
		t.Errorf("the Website tab shows %q; want the 4 website snippets", got)
	}
	if sel := mustRun(t, ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="tab-website"]').getAttribute('aria-selected')`)); sel != "true" {
		t.Errorf("Website tab aria-selected = %q", sel)
	}
}
