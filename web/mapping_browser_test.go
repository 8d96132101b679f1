package web_test

import (
	"context"
	"fmt"
	"strings"
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
