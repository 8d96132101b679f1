package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/delivery/s3"
)

// byLabel selects the form field a <label> with exactly this text is for.
func byLabel(tag, text string) string {
	return fmt.Sprintf(`//%s[@id=//label[normalize-space()=%q]/@for]`, tag, text)
}

func TestBrowserDestinationWizard(t *testing.T) {
	r := MustDestRig(t)
	r.mustSource(t, "web")
	ctx := MustBrowser(t)

	err := chromedp.Do(ctx, append(signInAt(r.HTTP.URL+"/destinations"),
		chromedp.Click(`//a[text()="New destination"]`),

		// Name and sources.
		chromedp.WaitVisible(byLabel("input", "Name")),
		chromedp.SendKeys(byLabel("input", "Name"), "MinIO from the browser"),
		chromedp.Click(`//label[normalize-space()="web"]`),
		chromedp.Click(`//button[text()="Next"]`),

		// Bucket and region, with MinIO's endpoint under Advanced.
		chromedp.WaitVisible(byLabel("input", "AWS Bucket Name")),
		chromedp.SendKeys(byLabel("input", "AWS Bucket Name"), testBucket),
		chromedp.SetValue(byLabel("select", "AWS Region"), r.MinIO.Region),
		chromedp.SendKeys(byLabel("input", "Path Prefix"), "browser/"),
		chromedp.Click(`//summary[contains(., "Advanced")]`),
		chromedp.WaitVisible(byLabel("input", "Endpoint")),
		chromedp.SendKeys(byLabel("input", "Endpoint"), r.MinIO.Endpoint),
		chromedp.Click(`//label[starts-with(normalize-space(), "Use path-style addressing")]`),
		chromedp.Click(`//button[text()="Next"]`),

		// Access keys: choosing the mode shows its fields only.
		chromedp.WaitVisible(`//label[normalize-space()="Access keys"]`),
		chromedp.Click(`//label[normalize-space()="Access keys"]`),
		chromedp.WaitVisible(byLabel("input", "Access Key ID")),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if shown := mustRun(t, ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="access-role"]').checkVisibility()`)); shown {
		t.Errorf("with access keys chosen, the IAM role section is still shown")
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(byLabel("input", "Access Key ID"), r.MinIO.AccessKey),
		chromedp.SendKeys(byLabel("input", "Secret Access Key"), r.MinIO.SecretKey),
		chromedp.Click(`//button[text()="Next"]`),
		chromedp.WaitVisible(`//button[text()="Test connection"]`),
	)
	if err != nil {
		t.Fatal(err)
	}

	// Test connection answers in place: the page is not reloaded.
	mustRun(t, ctx, chromedp.Evaluate[bool](`window.samePage = true`))
	if err := chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Test connection"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="test-step"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if !mustRun(t, ctx, chromedp.Evaluate[bool](`window.samePage === true`)) {
		t.Errorf("Test connection reloaded the page; want the result swapped in place")
	}
	steps := mustRun(t, ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="test-step"]')].map(li => li.dataset.status + " " + li.querySelector('[data-testid="test-step-name"]').textContent)`))
	want := []string{"ok " + s3.StepCredentials, "ok " + s3.StepPut, "ok " + s3.StepDelete}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Errorf("test steps: got %q, want %q", steps, want)
	}
	if summary := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="test-summary"]`))); !strings.Contains(summary, "The connection works") {
		t.Errorf("test summary: got %q", summary)
	}

	// Mappings: a new destination has none; one click adds Segment's default.
	if err := chromedp.Do(ctx,
		chromedp.Click(`//a[text()="Next"]`),
		chromedp.WaitVisible(`//button[text()="Add the Segment default mapping"]`),
	); err != nil {
		t.Fatal(err)
	}
	if current := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[aria-current="step"]`))); current != "Mappings" {
		t.Errorf("after the test step: current step %q, want Mappings", current)
	}
	steps = mustRun(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="wizard-steps"] li')].map(li => li.textContent.trim())`))
	wantSteps := []string{"Name and sources", "Bucket and region", "Access", "Test connection", "Mappings", "Enable"}
	if strings.Join(steps, "|") != strings.Join(wantSteps, "|") {
		t.Errorf("step indicator: got %q, want %q", steps, wantSteps)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Add the Segment default mapping"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mapping-row"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if row := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="mapping-row"]`))); !strings.Contains(row, "Tracks and identifies") || !strings.Contains(row, "browser/") {
		t.Errorf("mapping row %q: want the default mapping with a key under browser/", row)
	}

	// Enable, and see it on the list.
	if err := chromedp.Do(ctx,
		chromedp.Click(`//a[text()="Next"]`),
		chromedp.WaitVisible(`//label[normalize-space()="Deliver events to this destination"]`),
	); err != nil {
		t.Fatal(err)
	}
	if !mustRun(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#enabled").checked`)) {
		t.Errorf("enable step: the switch should start on")
	}
	if warned := mustRun(t, ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="mapping-warning"]') !== null`)); warned {
		t.Errorf("enable step: warns about mappings although the default one was added")
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Save"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="destinations-table"]`)),
	); err != nil {
		t.Fatal(err)
	}
	row := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="destination-row"]`)))
	for _, want := range []string{"MinIO from the browser", "s3://events/browser/", "us-east-1", "web", "1 mapping", "passed", "healthy", "on"} {
		if !strings.Contains(row, want) {
			t.Errorf("list row %q lacks %q", row, want)
		}
	}

	// The list leads to the destination's mappings, where the mapping is.
	if err := chromedp.Do(ctx,
		chromedp.Click(`//a[@aria-label="1 mapping of MinIO from the browser"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mapping-row"]`)),
	); err != nil {
		t.Fatal(err)
	}
	rows := mustRun(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="mapping-row"]')].map(tr => tr.textContent)`))
	if len(rows) != 1 || !strings.Contains(rows[0], "Tracks and identifies") {
		t.Errorf("mappings page rows %q, want the default mapping", rows)
	}
	r.Responses.mustContain(t, "Secret Access Key")
	r.Responses.mustNotContain(t, r.MinIO.SecretKey, 8)
}
