package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/store"
)

// typeOver selects the text of the field sel and types text over it, as a
// user does, so the page sees real input events.
func typeOver(tb testing.TB, ctx context.Context, sel, text string) {
	tb.Helper()
	mustRun(tb, ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.focus(); el.select(); return true })()`, sel)))
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		tb.Fatal(err)
	}
}

// waitFor waits until the JavaScript expression is true, failing with what
// the page shows at the time when it never is.
func waitFor(tb testing.TB, ctx context.Context, what, expr string) {
	tb.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		preview, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="mapping-preview"]`)))
		tb.Fatalf("%s: %v\npreview shows:\n%s", what, err, preview)
	}
}

func TestBrowserMappingEditorPreviewsLiveAndSendsATestEvent(t *testing.T) {
	r := mustMappingRig(t, true)
	m := r.mustCreateMapping(t, `{"name": "Warehouse CSV"}`)
	ctx := MustBrowser(t)
	editPage := r.HTTP.URL + r.mappingsPage() + "/" + m.ID
	err := chromedp.Do(ctx, append(signInAt(editPage),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="preview-body"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// The marker lives only as long as the page: a reload would drop it.
	mustRun(t, ctx, chromedp.Evaluate[bool](`window.sameEditorPage = true`))
	bodies := `Array.from(document.querySelectorAll('[data-testid="preview-body"]')).map(e => e.textContent)`
	waitFor(t, ctx, "initial preview", bodies+`.length === 2 && `+bodies+`[0].startsWith("event_name,event_type,")`)

	// Rename the first column: the preview's header follows.
	typeOver(t, ctx, "#col-name-0", "evt_name")
	waitFor(t, ctx, "preview after renaming a column", bodies+`.every(b => b.startsWith("evt_name,event_type,"))`)

	// Change the trigger in the condition builder: the raw text and the
	// preview follow (the page sample comes in, the identify one goes).
	typeOver(t, ctx, "#cond-value-1", "page")
	waitFor(t, ctx, "raw trigger after a builder edit", `document.querySelector("#trigger").value === 'type = "track" or type = "page"'`)
	waitFor(t, ctx, "preview after a builder edit", bodies+`.some(b => b.includes('"page"')) && !`+bodies+`.some(b => b.includes('"identify"'))`)

	// Change the raw trigger: the builder follows.
	typeOver(t, ctx, "#trigger", `type = "identify" and traits.plan = "premium"`)
	waitFor(t, ctx, "builder after a raw edit", `document.querySelectorAll('[data-testid="condition-row"]').length === 2 && `+
		`document.querySelector("#cond-field-1").value === "traits.plan" && document.querySelector("#cond-value-1").value === "premium"`)
	waitFor(t, ctx, "preview after a raw edit", bodies+`.length === 1 && `+bodies+`[0].includes('"identify"')`)

	// A syntax error is shown with its position, and no preview.
	typeOver(t, ctx, "#trigger", `type = `)
	waitFor(t, ctx, "trigger syntax error", `(document.querySelector('[data-testid="trigger-error"]')?.textContent || "").includes("column 8")`)

	// Send test event writes through the saved mapping and shows the result in place.
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Send test event"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "test send result", `document.querySelector('[data-testid="test-send-status"]')?.textContent === "delivered"`)
	key := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="test-send-key"]`)))
	if !strings.HasPrefix(key, "raw/") {
		t.Errorf("test send key %q, want one under the destination's path prefix raw/", key)
	}
	obj := string(r.MinIO.MustGetObject(t, r.Bucket, key))
	if !strings.HasPrefix(obj, "event_name,") || !strings.Contains(obj, `"Order Completed","track"`) {
		t.Errorf("test object %q: want the saved mapping's header and the built-in track sample", obj)
	}
	if same := mustRun(t, ctx, chromedp.Evaluate[bool](`window.sameEditorPage === true`)); !same {
		t.Error("the editor reloaded; the preview and test send must update in place")
	}
	ds, _, err := r.DB.ListDeliveries(context.Background(), store.DeliveryFilter{DestinationID: r.Dest.ID})
	if err != nil || len(ds) != 1 || !ds[0].Test || ds[0].Key != key {
		t.Errorf("deliveries %v (%v), want the one test delivery", ds, err)
	}
}

// requestCounter counts the requests whose path ends with a suffix.
type requestCounter struct {
	suffix string
	n      atomic.Int64
}

func (rc *requestCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, rc.suffix) {
			rc.n.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// A pasted test event and one click: one request, one object, one test
// delivery; the preview stays and each result replaces the one before.
func TestBrowserMappingTestSendSendsOnce(t *testing.T) {
	sends := &requestCounter{suffix: "/test-send"}
	r := mustMappingRig(t, true, envOptions{wrap: sends.wrap})
	m := r.mustCreateMapping(t, `{"name": "Warehouse CSV"}`)
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(r.HTTP.URL+r.mappingsPage()+"/"+m.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="preview-body"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// Paste (one input event) and click at once, inside the live preview's 400 ms delay.
	paste := func(event string) {
		t.Helper()
		mustRun(t, ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const ta = document.querySelector("#test_event"); ta.focus(); ta.value = %q; `+
			`ta.dispatchEvent(new Event("input", {bubbles: true})); document.querySelector('[data-testid="send-test-event"]').click(); return true })()`, event)))
	}
	// The preview's own requests, counted in the page, tell when the live trigger has had its chance.
	mustRun(t, ctx, chromedp.Evaluate[bool](`window.liveDone = 0; document.body.addEventListener("htmx:afterRequest", e => { if (e.detail.pathInfo.requestPath.endsWith("/live")) window.liveDone++ }); true`))
	settle := func(what string, n int64) {
		t.Helper()
		waitFor(t, ctx, what, fmt.Sprintf(`document.querySelectorAll('[data-testid="test-send-result"] dl, [data-testid="test-send-error"]').length > 0 && document.querySelectorAll('.htmx-request').length === 0`))
		// Another paste-free live request goes through the form after the send: it must stay a preview.
		typeOver(t, ctx, "#col-name-0", fmt.Sprintf("name_%d", n))
		waitFor(t, ctx, what+": preview after the send", fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="preview-body"]')).some(b => b.textContent.startsWith("name_%d,"))`, n))
		if got := sends.n.Load(); got != n {
			t.Fatalf("%s: %d test-send requests, want %d", what, got, n)
		}
		if got := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#test-send-result").length`)); got != 1 {
			t.Errorf("%s: %d elements with id test-send-result, want 1", what, got)
		}
		if got := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#mapping-preview").length`)); got != 1 {
			t.Errorf("%s: %d preview panes, want 1", what, got)
		}
	}

	paste(`{"type": "track", "event": "Order Completed", "userId": "u1"}`)
	settle("first send", 1)
	if keys := r.MinIO.MustListKeys(t, r.Bucket, ""); len(keys) != 1 {
		t.Errorf("objects %v after one click, want 1", keys)
	}
	if status := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="test-send-status"]`))); status != "delivered" {
		t.Errorf("status %q, want delivered", status)
	}

	paste(`{"type": `)
	settle("invalid send", 2)
	if n := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="test-send-status"]').length`)); n != 0 {
		t.Error("the invalid send left the earlier result on the page")
	}

	paste(`{"type": "identify", "userId": "u2"}`)
	settle("send after the invalid one", 3)
	if n := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="test-send-error"]').length`)); n != 0 {
		t.Error("a stale error stays after a successful send")
	}
	if keys := r.MinIO.MustListKeys(t, r.Bucket, ""); len(keys) != 2 {
		t.Errorf("objects %v after two valid sends, want 2", keys)
	}
	ds, _, err := r.DB.ListDeliveries(context.Background(), store.DeliveryFilter{DestinationID: r.Dest.ID})
	if err != nil || len(ds) != 2 {
		t.Errorf("deliveries %v (%v), want the two test deliveries", ds, err)
	}
}

// TestBrowserMappingEditorLayout: at 1366 px the editor does not scroll
// sideways and column values have room; the key template shows only where
// it applies; Segment classic chooses gzip; leaving with unsaved changes
// asks first, saving does not.
func TestBrowserMappingEditorLayout(t *testing.T) {
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "Warehouse CSV"}`)
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(r.HTTP.URL+r.mappingsPage()+"/"+m.ID),
		chromedp.EmulateViewport(1366, 900),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mapping-preview"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if w := mustRun(t, ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)); w[0] > w[1] {
		t.Errorf("editor is %d px wide in a %d px window", w[0], w[1])
	}
	if w := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelector("#col-value-0").offsetWidth`)); w < 200 {
		t.Errorf("a column value box is %d px wide, want 200 or more to read a path", w)
	}
	shown := `document.querySelector("#key_template").offsetParent !== null`
	choose := func(sel, value string) {
		t.Helper()
		mustRun(t, ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); s.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, sel, value)))
	}
	if mustRun(t, ctx, chromedp.Evaluate[bool](shown)) {
		t.Error("Key Template shows for the Segment Actions layout")
	}
	choose("#key_preset", "custom")
	if !mustRun(t, ctx, chromedp.Evaluate[bool](shown)) {
		t.Error("Key Template hidden for the custom layout")
	}
	choose("#key_preset", "segment_actions")
	choose("#format", "json")
	if !mustRun(t, ctx, chromedp.Evaluate[bool](shown)) {
		t.Error("Key Template hidden for the json format")
	}
	choose("#format", "csv")
	choose("#key_preset", "segment_classic")
	if got := mustRun(t, ctx, chromedp.Evaluate[string](`document.querySelector("#compression").value`)); got != "gzip" {
		t.Errorf("compression %q after choosing Segment classic, want gzip", got)
	}

	leaveAsks := `(() => { const e = new Event("beforeunload", {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented })()`
	typeOver(t, ctx, "#name", "Warehouse classic")
	if !mustRun(t, ctx, chromedp.Evaluate[bool](leaveAsks)) {
		t.Error("leaving with unsaved changes does not ask")
	}
	// Saving leaves the page without a question (a beforeunload dialog
	// would stop the navigation, and the mappings list would never show).
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="save-mapping"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mapping-row"]`)),
	); err != nil {
		t.Fatalf("save: %v", err)
	}
	got, err := r.DB.MappingByID(context.Background(), r.Dest.ID, m.ID)
	if err != nil || got.KeyPreset != "segment_classic" || got.Compression != store.CompressionGzip || got.Name != "Warehouse classic" {
		t.Errorf("saved %+v (%v), want Segment classic with gzip", got, err)
	}
}
