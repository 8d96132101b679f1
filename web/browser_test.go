package web_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's Chromium; .ci/testdeps installs it.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("S3RELAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("Chromium not found: run .ci/testdeps (or make test), which installs it")
	return ""
}

// MustBrowser starts a headless Chromium with a fresh profile and returns a
// context whose actions drive one tab of it.
func MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	return mustBrowserFor(tb, 60*time.Second)
}

// mustBrowserFor is MustBrowser with a time limit and more Chromium flags.
func mustBrowserFor(tb testing.TB, limit time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	// A Chromium that exits while it starts (it happens, rarely, on a
	// loaded machine, before any page is opened) is started again, twice at
	// most, with a fresh profile; nothing of the test has run yet.
	var err error
	for try := 1; try <= 3; try++ {
		var ctx context.Context
		if ctx, err = startBrowser(tb, limit, extra...); err == nil {
			return ctx
		}
		if !strings.Contains(err.Error(), "chrome failed to start") {
			break
		}
		tb.Logf("start chromium (try %d): %v", try, err)
	}
	tb.Fatalf("start chromium: %v", err)
	return nil
}

// startBrowser starts one headless Chromium and opens its first tab.
func startBrowser(tb testing.TB, limit time.Duration, extra ...chromedp.ExecAllocatorOption) (context.Context, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	tb.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		return nil, err
	}
	return ctx, nil
}

func TestBrowserSignInShowsNavigation(t *testing.T) {
	e := MustEnv(t)
	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/settings"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	nav := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="nav"]`)))
	heading := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`main h1`)))
	location := mustRun(t, ctx, chromedp.Location())
	for _, want := range []string{"Destinations", "Sources", "Deliveries", "Events", "Settings"} {
		if !strings.Contains(nav, want) {
			t.Errorf("navigation %q lacks %q", nav, want)
		}
	}
	if heading != "Settings" || !strings.HasSuffix(location, "/settings") {
		t.Errorf("after sign-in: heading %q at %q, want Settings (the page asked for)", heading, location)
	}
	// Keyboard users reach the navigation: the first Tab stop is the skip link.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	if focused := mustRun(t, ctx, chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
}

// mustRun runs one browser action and returns its value.
func mustRun[T any](tb testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// signInAt opens url as a signed-out user, who is sent to sign in first, and
// signs in as the administrator through the real form, by its labels.
func signInAt(url string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url),
		chromedp.WaitVisible(`//label[text()="Email"]`),
		chromedp.SendKeys(`//input[@id=//label[text()="Email"]/@for]`, adminEmail),
		chromedp.SendKeys(`//input[@id=//label[text()="Password"]/@for]`, adminPassword),
		chromedp.Click(`//button[text()="Sign in"]`),
		// Signed in once the sign-in form has gone: the sign-in page has a
		// main h1 too, and a navigation started while its form's POST is in
		// flight is aborted by that POST's redirect (net::ERR_ABORTED).
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="login-form"]`)),
	}
}
