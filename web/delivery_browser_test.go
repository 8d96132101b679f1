package web_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// mustRunEngine runs a delivery engine on the environment's database until
// the test ends; it polls quickly so tests wait little.
func (e *env) mustRunEngine(tb testing.TB) {
	tb.Helper()
	eng := delivery.New(e.DB, &s3.Factory{}, slog.New(slog.NewTextHandler(e.Log, nil)), delivery.Config{
		Poll: 50 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("engine: %v", err)
		}
	})
}

// waitDeliveries waits until the destination has want deliveries, all with
// the given status.
func (e *env) waitDeliveries(tb testing.TB, destinationID, status string, want int) []*store.Delivery {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, err := e.DB.ListDeliveries(context.Background(), store.DeliveryFilter{DestinationID: destinationID})
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if d.Status == status {
				n++
			}
		}
		if n == want && len(ds) == want {
			return ds
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d deliveries, %d of them %s; want %d %s\n%s", len(ds), n, status, want, status, e.Log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserRetriesAFailedDelivery is issue 6's browser acceptance: with a
// real engine and MinIO behind the server, a file fails because its bucket
// does not exist; once the bucket exists, a user finds the failed delivery
// in the history, opens it, retries it, and sees it delivered.
func TestBrowserRetriesAFailedDelivery(t *testing.T) {
	e := MustEnv(t)
	mi := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	const bucket = "created-later"
	src := e.mustSource(t, "web")
	dest := &store.Destination{Name: "MinIO", Enabled: true, SourceIDs: []string{src.ID},
		Config:      store.DestinationConfig{Bucket: bucket, Region: mi.Region, Auth: store.AuthKeys, Endpoint: mi.Endpoint, ForcePathStyle: true},
		Credentials: store.Credentials{Key: mi.AccessKey, Secret: mi.SecretKey},
	}
	if err := e.DB.CreateDestination(context.Background(), dest); err != nil {
		t.Fatal(err)
	}
	m := &store.Mapping{DestinationID: dest.ID, Name: "tracks", Enabled: true, Format: store.FormatCSV, BatchSize: 5, BatchMaxAgeSeconds: 1,
		Columns: []store.Column{{Name: "message_id", Value: "$.messageId"}}}
	if err := e.DB.CreateMapping(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	e.mustRunEngine(t)
	e.mustSendTracks(t, src, "b", 10)
	failed := e.waitDeliveries(t, dest.ID, store.StatusFailed, 2)
	if got, err := e.DB.DestinationByID(context.Background(), dest.ID); err != nil || got.Health != store.HealthUnhealthy {
		t.Fatalf("after a missing bucket the destination is %+v, %v; want unhealthy", got, err)
	}
	mi.MustCreateBucket(t, bucket)

	ctx := MustBrowser(t)
	err := chromedp.Do(ctx, append(signInAt(e.HTTP.URL+"/deliveries"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="delivery-filters"]`)),
		chromedp.SetValue(`//select[@id=//label[text()="Status"]/@for]`, "failed"),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// Filtering loads a new page: wait for it, not for the rows of the
	// page it replaces.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(`//button[text()="Filter"]`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="delivery-row"]`))); err != nil {
		t.Fatal(err)
	}
	location := mustRun(t, ctx, chromedp.Location())
	statuses := mustRun(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('[data-testid="delivery-row"]'), r => r.dataset.status)`))
	if !strings.Contains(location, "status=failed") || len(statuses) != 2 || statuses[0] != "failed" || statuses[1] != "failed" {
		t.Fatalf("filtered history at %s shows %v, want the 2 failed deliveries", location, statuses)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="delivery-row"] [data-testid="delivery-link"]`)),
		chromedp.WaitVisible(`//button[text()="Retry"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(mustRun(t, ctx, chromedp.Location()), e.HTTP.URL+"/deliveries/")
	if id != failed[0].ID {
		t.Errorf("opened %q, want the newest failed delivery %s", id, failed[0].ID)
	}
	if got := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="delivery-live"] [data-testid="status"]`))); got != "failed" {
		t.Errorf("before retry the page shows %q", got)
	}
	if log := mustRun(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid="attempts-table"] tbody`))); !strings.Contains(log, "NoSuchBucket") {
		t.Errorf("attempt log %q does not name the missing bucket", log)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Retry"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)),
		// The page refreshes its status in place until the upload is done.
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="delivery-live"] [data-testid="status"]').textContent === "delivered"`,
			chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		t.Fatalf("after retry: %v\n%s", err, e.Log.String())
	}
	if rows := mustRun(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="attempt-row"]').length`)); rows != 2 {
		t.Errorf("attempt log has %d rows after the retry, want 2", rows)
	}
	d, _, err := e.DB.DeliveryByID(context.Background(), id)
	if err != nil || d.Status != store.StatusDelivered {
		t.Fatalf("delivery %s is %+v, %v", id, d, err)
	}
	mi.MustHeadObject(t, bucket, d.Key)
	other, _, err := e.DB.DeliveryByID(context.Background(), failed[1].ID)
	if err != nil || other.Status != store.StatusFailed {
		t.Errorf("the delivery not retried is %+v, %v; want it still failed", other, err)
	}
}
