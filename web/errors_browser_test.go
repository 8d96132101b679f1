package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

// TestBrowserErrorsNeverHidden submits forms that fail: every typed value
// survives (the custom region and the AWS Region select included), a
// collapsed section holding an error is open, and the focus is on an error
// summary at the top of the form that links to the fields.
func TestBrowserErrorsNeverHidden(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	ctx := MustBrowser(t)
	eval := func(js string) string {
		t.Helper()
		return mustRun(t, ctx, chromedp.Evaluate[string](js))
	}
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/destinations/new"),
		chromedp.WaitVisible(byLabel("input", "Name")),
		chromedp.SendKeys(byLabel("input", "Name"), "Regions\r"),
		chromedp.WaitVisible(byLabel("input", "AWS Bucket Name")),
		chromedp.SendKeys(byLabel("input", "AWS Bucket Name"), "my-events"),
		chromedp.SetValue(byLabel("select", "AWS Region"), "eu-west-1"),
		chromedp.Click(`//summary[contains(., "Advanced")]`),
		chromedp.WaitVisible(byLabel("input", "Region at the endpoint")),
		chromedp.SendKeys(byLabel("input", "Region at the endpoint"), "garage"),
		chromedp.Click(`//button[text()="Next"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="custom_region-error"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.querySelector("#region").value`); got != "eu-west-1" {
		t.Errorf("AWS Region after the error = %q, want eu-west-1", got)
	}
	if got := eval(`document.querySelector("#custom_region").value`); got != "garage" {
		t.Errorf("Region at the endpoint after the error = %q, want garage", got)
	}
	if got := eval(`String(document.querySelector("details.advanced").open)`); got != "true" {
		t.Errorf("Advanced holding the error is open = %s", got)
	}
	if got := eval(`document.activeElement.dataset.testid || document.activeElement.tagName`); got != "error-summary" {
		t.Errorf("focus on %q, want the error summary", got)
	}
	if got := eval(`document.querySelector('[data-testid="error-summary"] a').getAttribute("href")`); got != "#custom_region" {
		t.Errorf("error summary links to %q, want #custom_region", got)
	}

	// Settings: the Add a user section opens on its error.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.HTTP.URL+"/settings"),
		chromedp.Click(`//summary[text()="Add a user"]`),
		chromedp.WaitVisible(`//form[@data-testid="new-user-form"]//input[@name="email"]`),
		chromedp.SendKeys(`//form[@data-testid="new-user-form"]//input[@name="email"]`, "new@example.com"),
		chromedp.SendKeys(`//form[@data-testid="new-user-form"]//input[@name="password"]`, "short"),
	); err != nil {
		t.Fatal(err)
	}
	// The browser's own check of minlength would stop the form first.
	mustRun(t, ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="new-user-form"]').noValidate = true`))
	if err := chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Add user"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user"] [data-testid="password-error"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := eval(`String(document.querySelector('[data-testid="add-user"]').open)`); got != "true" {
		t.Errorf("Add a user with an error is open = %s", got)
	}
	if got := eval(`document.querySelector('[data-testid="new-user-form"] input[name="email"]').value`); got != "new@example.com" {
		t.Errorf("email after the error = %q", got)
	}
	if got := eval(`document.activeElement.dataset.testid || document.activeElement.tagName`); got != "error-summary" {
		t.Errorf("focus on %q, want the error summary", got)
	}
}
