package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

// TestBrowserWizardBackForwardAndEnter walks the new-destination wizard with
// the keyboard and the browser's history: Enter means Next, every step is at
// its own address, and Back, Forward and reload show the step with what was
// typed, never a form resubmission. A pasted s3:// URL becomes the bucket and
// its Path Prefix.
func TestBrowserWizardBackForwardAndEnter(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	ctx := mustBrowserFor(t, 60*time.Second, chromedp.Flag("disable-features", "BackForwardCache"))
	location := func() string {
		t.Helper()
		return strings.TrimPrefix(mustRun(t, ctx, chromedp.Location()), e.HTTP.URL)
	}
	value := func(sel string) string {
		t.Helper()
		return mustRun(t, ctx, chromedp.Evaluate[string](`document.querySelector(`+"`"+sel+"`"+`).value`))
	}
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/destinations/new"),
		chromedp.WaitVisible(byLabel("input", "Name")),
		chromedp.SendKeys(byLabel("input", "Name"), "Keyboard\r"),
		chromedp.WaitVisible(byLabel("input", "AWS Bucket Name")),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := location(), "/destinations/new/bucket"; got != want {
		t.Errorf("after Enter on the name step: at %q, want %q", got, want)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(byLabel("select", "AWS Region"), "eu-west-1"),
		chromedp.SendKeys(byLabel("input", "AWS Bucket Name"), "s3://my-events/segment/raw/\r"),
		chromedp.WaitVisible(`//label[normalize-space()="Access keys"]`),
	); err != nil {
		t.Fatal(err)
	}
	if got, want := location(), "/destinations/new/access"; got != want {
		t.Errorf("after Enter in the bucket field: at %q, want %q", got, want)
	}
	if flash := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(flash, "as bucket my-events with Path Prefix segment/raw/") {
		t.Errorf("no note on the pasted S3 URL in %q", flash)
	}

	// history moves through the browser's history and waits for the page at
	// path. The back-forward cache is off: a page it restores sends no load
	// event, and the test is about what the server answers.
	history := func(nav chromedp.Action[chromedp.Void], path string) {
		t.Helper()
		if err := chromedp.Do(ctx, nav, chromedp.WaitVisible(chromedp.CSS(`form[data-testid="wizard-form"]`))); err != nil {
			t.Fatalf("to %s: %v (at %s)", path, err, location())
		}
		if got := location(); got != path {
			t.Errorf("at %q, want %q", got, path)
		}
	}

	// Back shows the bucket step with its values, split from the paste.
	history(chromedp.NavigateBack(), "/destinations/new/bucket")
	if b, p, r := value("#bucket"), value("#path_prefix"), value("#region"); b != "my-events" || p != "segment/raw/" || r != "eu-west-1" {
		t.Errorf("after Back: bucket %q, prefix %q, region %q; want my-events, segment/raw/, eu-west-1", b, p, r)
	}
	// Reload asks nothing and shows the same.
	history(chromedp.Reload(), "/destinations/new/bucket")
	if b := value("#bucket"); b != "my-events" {
		t.Errorf("after reload: bucket %q", b)
	}
	// Back again reaches the name step with the name.
	history(chromedp.NavigateBack(), "/destinations/new/name")
	if name := value("#name"); name != "Keyboard" {
		t.Errorf("after Back again: name %q, want Keyboard", name)
	}
	// Forward twice returns to the access step.
	history(chromedp.NavigateForward(), "/destinations/new/bucket")
	history(chromedp.NavigateForward(), "/destinations/new/access")
	// The wizard's own Back button is not the default: Next is the first
	// submit button of every step's form.
	first := mustRun(t, ctx, chromedp.Evaluate[string](`document.querySelector('form[data-testid="wizard-form"] button[type="submit"]').textContent`))
	if first != "Next" {
		t.Errorf("first submit button %q, want Next", first)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Back"]`), chromedp.WaitVisible(byLabel("input", "AWS Bucket Name"))); err != nil {
		t.Fatal(err)
	}
	if got := location(); got != "/destinations/new/bucket" {
		t.Errorf("after the Back button: at %q, want the bucket step's address", got)
	}
}
