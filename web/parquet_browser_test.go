package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Choosing parquet in the editor shows each column's type and the note on
// big integers, hides the csv-only delimiter, and the live preview shows
// the file as a table with its schema.
func TestBrowserParquetEditorShowsTypesAndTable(t *testing.T) {
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "Lake"}`)
	ctx := MustBrowser(t)
	editPage := r.HTTP.URL + r.mappingsPage() + "/" + m.ID
	if err := chromedp.Do(ctx, append(signInAt(editPage), chromedp.WaitVisible(chromedp.CSS(`[data-testid="preview-body"]`)))...); err != nil {
		t.Fatal(err)
	}
	visible := func(sel string) string {
		return `(() => { const el = document.querySelector(` + "`" + sel + "`" + `); return !!el && el.getClientRects().length > 0 })()`
	}
	waitFor(t, ctx, "csv hides the type column", `!`+visible(`#col-type-0`)+` && `+visible(`#delimiter`))
	mustRun(t, ctx, chromedp.SetValue(chromedp.CSS(`#format`), "parquet"))
	mustRun(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#format").dispatchEvent(new Event("change", {bubbles: true}))`))
	waitFor(t, ctx, "parquet shows the type column", visible(`#col-type-0`)+` && `+visible(`[data-testid="column-type-help"]`)+` && !`+visible(`#delimiter`))
	waitFor(t, ctx, "parquet preview table", `document.querySelectorAll('[data-testid="parquet-preview"]').length > 0 && `+
		`document.querySelector('[data-testid="parquet-rows"] th')?.textContent === "event_name"`)
}
