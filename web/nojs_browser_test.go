package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserNoJSConfirmsAndHidesCopy uses the source page with JavaScript
// off: Rotate write key and Delete source go through a confirmation page
// (the data-confirm check needs JavaScript), and the Copy buttons, which do
// nothing without it, are not shown. With JavaScript they are.
func TestBrowserNoJSConfirmsAndHidesCopy(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	ctx := MustBrowser(t)
	page := e.HTTP.URL + "/sources/" + src.ID
	copyShown := `[...document.querySelectorAll("[data-copy]")].filter(b => b.checkVisibility()).length`
	if err := chromedp.Do(ctx, append(signInAt(page), chromedp.WaitVisible(chromedp.CSS(`[data-testid="write-key"]`)))...); err != nil {
		t.Fatal(err)
	}
	if n := mustRun(t, ctx, chromedp.Evaluate[int](copyShown)); n == 0 {
		t.Errorf("with JavaScript: no Copy button shown")
	}
	noJS := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(ctx, noJS, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`[data-testid="write-key"]`))); err != nil {
		t.Fatal(err)
	}
	if n := mustRun(t, ctx, chromedp.Evaluate[int](copyShown)); n != 0 {
		t.Errorf("without JavaScript: %d Copy buttons shown, want none", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//a[text()="Rotate write key"]`), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm"]`))); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.DB.SourceByID(t.Context(), src.ID); got.WriteKey != src.WriteKey {
		t.Fatal("the write key was rotated before it was confirmed")
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Rotate write key"]`), chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`))); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.DB.SourceByID(t.Context(), src.ID); got.WriteKey == src.WriteKey {
		t.Error("confirmed, the write key is unchanged")
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//a[text()="Delete source"]`), chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm"]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.SourceByID(t.Context(), src.ID); err != nil {
		t.Fatalf("the source was deleted before it was confirmed: %v", err)
	}
	msg := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="confirm-message"]`)))
	if !strings.Contains(msg, "cannot be undone") {
		t.Errorf("delete confirmation %q", msg)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Delete source"]`), chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.SourceByID(t.Context(), src.ID); err == nil {
		t.Error("confirmed, the source still exists")
	}
}
