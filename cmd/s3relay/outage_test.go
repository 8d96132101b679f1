package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// viaProxy puts a fault proxy between the pipeline's destination and MinIO,
// before the server starts.
func (p *pipeline) viaProxy(tb testing.TB) *miniotest.FaultProxy {
	tb.Helper()
	ctx := context.Background()
	proxy := miniotest.StartFaultProxy(tb, p.MinIO.Endpoint)
	keys, err := store.LoadKeys(p.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(p.DataDir, "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.UseKeys(keys)
	p.Dest.Config.Endpoint = proxy.URL
	if err := db.UpdateDestination(ctx, p.Dest); err != nil {
		tb.Fatal(err)
	}
	return proxy
}

// maxAttempts returns the most attempts any file of the data dir has made,
// and whether one of them failed.
func (p *pipeline) maxAttempts(tb testing.TB) (int, bool) {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(p.DataDir, "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ds, _, err := db.ListDeliveries(context.Background(), store.DeliveryFilter{Page: store.Page{Limit: store.MaxPageLimit}})
	if err != nil {
		tb.Fatal(err)
	}
	most, failed := 0, false
	for _, d := range ds {
		most = max(most, d.Attempts)
		failed = failed || d.Status == store.StatusFailed
	}
	return most, failed
}

// TestOutageLongerThanTheOldAttemptBudget runs the binary against an S3
// answering 503 SlowDown for more attempts than the old limit of 12 (with
// --max-backoff 1s they come fast): no file fails, the API shows the
// destination retrying with the error, and once S3 is back everything is
// delivered and the destination is healthy.
func TestOutageLongerThanTheOldAttemptBudget(t *testing.T) {
	m := &store.Mapping{Name: "all", Format: "jsonl", Trigger: `type = "track"`, BatchSize: 100, BatchMaxAgeSeconds: 1}
	p := mustPipeline(t, m)
	proxy := p.viaProxy(t)
	proxy.SlowDown()
	token, stderr, code := runCLI(t, "", "token", "create", "--name", "ci", "--data-dir", p.DataDir)
	if code != 0 {
		t.Fatalf("token create: %d %s", code, stderr)
	}
	token = strings.TrimSpace(token)
	s := startServer(t, p.DataDir, "S3RELAY_MAX_BACKOFF=1s", "S3RELAY_RETRY_FOR=1h")

	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i := range 100 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"track","userId":"u","event":"E","messageId":"out-%d"}`, i)
	}
	body.WriteString(`]}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/batch", &body)
	req.SetBasicAuth(p.Source.WriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send: %d", resp.StatusCode)
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		most, failed := p.maxAttempts(t)
		if failed {
			t.Fatalf("a file failed after %d attempts of a retryable outage; want it retried for --retry-for\n%s", most, lastLines(s.log.String(), 20))
		}
		if most >= 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d attempts within 90s", most)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A delivery counts an attempt when it starts, the destination's health
	// when it has failed: the 15th may still be on its way.
	var status int
	var dest map[string]any
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, dest = apiGet(t, s.URL+"/api/v1/destinations/"+p.Dest.ID, token)
		if fails, _ := dest["health_failures"].(float64); fails >= 15 || time.Now().After(end) {
			break
		}
	}
	if fails, _ := dest["health_failures"].(float64); status != http.StatusOK || dest["health"] != "retrying" || dest["health_code"] != "SlowDown" || fails < 15 {
		t.Errorf("during the outage: %d health %v code %v failures %v; want retrying, SlowDown, at least 15",
			status, dest["health"], dest["health_code"], dest["health_failures"])
	}

	proxy.Pass()
	p.waitAllDelivered(t, m, 100, 60*time.Second)
	_, dest = apiGet(t, s.URL+"/api/v1/destinations/"+p.Dest.ID, token)
	if dest["health"] != "healthy" || dest["health_code"] != "" || dest["health_failures"] != float64(0) {
		t.Errorf("after the outage: health %v code %v failures %v; want healthy, none, 0", dest["health"], dest["health_code"], dest["health_failures"])
	}
	if ids, _ := p.objectIDs(t, ""); len(ids) != 100 {
		t.Errorf("%d distinct events in the bucket, want 100", len(ids))
	}
}
