package delivery_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// viaProxy points the rig's destination at a fault-injecting front of MinIO.
func (r *rig) viaProxy(tb testing.TB) *miniotest.FaultProxy {
	tb.Helper()
	p := miniotest.StartFaultProxy(tb, r.MinIO.Endpoint)
	r.Dest.Config.Endpoint = p.URL
	if err := r.DB.UpdateDestination(context.Background(), r.Dest); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestOutageIsRetriedUntilDelivered(t *testing.T) {
	r := mustRig(t)
	proxy := r.viaProxy(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 100, BatchMaxAgeSeconds: 1})
	proxy.SlowDown()
	runEngine(t, r.engine(delivery.Config{BackoffBase: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond, MaxAttempts: 50}))
	r.send(t, "o", 300, "track")
	// S3 answers 503 SlowDown for a while, then drops connections, then recovers.
	waitFor(t, 10*time.Second, func() bool { return proxy.Faulted() >= 3 })
	proxy.Drop()
	faulted := proxy.Faulted()
	waitFor(t, 10*time.Second, func() bool { return proxy.Faulted() >= faulted+3 })
	proxy.Pass()
	ds := r.waitDelivered(t, m.ID, 300, 30*time.Second)
	codes := map[string]bool{}
	retried := 0
	for _, d := range ds {
		_, attempts, err := r.DB.DeliveryByID(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(attempts) != d.Attempts || !attempts[len(attempts)-1].OK {
			t.Errorf("delivery %s: %d attempts logged for %d made, last %+v", d.ID, len(attempts), d.Attempts, attempts[len(attempts)-1])
		}
		for _, a := range attempts[:len(attempts)-1] {
			codes[a.Code] = true
			if a.OK || a.Message == "" {
				t.Errorf("failed attempt logged as %+v", a)
			}
		}
		if d.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 || !codes["SlowDown"] || !(codes["ConnectionReset"] || codes["NetworkError"] || len(codes) >= 2) {
		t.Errorf("attempt log codes = %v over %d retried deliveries; want SlowDown and a dropped-connection code", codes, retried)
	}
	if n := len(r.jsonlIDs(t, "raw/")); n != 300 {
		t.Errorf("%d distinct events in the bucket, want 300", n)
	}
}

func TestPermanentFailureMarksDestinationUnhealthyUntilRetried(t *testing.T) {
	r := mustRig(t)
	proxy := r.viaProxy(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 50, BatchMaxAgeSeconds: 1})
	e := r.engine(delivery.Config{})
	runEngine(t, e)
	proxy.Set(miniotest.Fault{Kind: miniotest.FaultError, Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied", Method: http.MethodPut})
	r.send(t, "p", 50, "track")
	var failed *store.Delivery
	waitFor(t, 15*time.Second, func() bool {
		for _, d := range r.deliveries(t, m.ID) {
			if d.Status == store.StatusFailed {
				failed = d
				return true
			}
		}
		return false
	})
	if failed.Attempts != 1 {
		t.Errorf("access denied was tried %d times, want 1 (a permanent failure)", failed.Attempts)
	}
	if failed.LastErrorCode != "AccessDenied" || !strings.Contains(failed.LastError, "s3:PutObject") {
		t.Errorf("last error %q %q, want AccessDenied with the s3:PutObject hint", failed.LastErrorCode, failed.LastError)
	}
	dest, err := r.DB.DestinationByID(context.Background(), r.Dest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dest.Health != store.HealthUnhealthy || !strings.Contains(dest.HealthMessage, "AccessDenied") && !strings.Contains(dest.HealthMessage, "s3:PutObject") {
		t.Errorf("destination health %q %q, want unhealthy with the hint", dest.Health, dest.HealthMessage)
	}
	// The permission is fixed; a retry succeeds and the destination is healthy again.
	proxy.Pass()
	if err := r.DB.RetryDelivery(context.Background(), failed.ID); err != nil {
		t.Fatal(err)
	}
	e.Wake()
	r.waitDelivered(t, m.ID, 50, 15*time.Second)
	dest, _ = r.DB.DestinationByID(context.Background(), r.Dest.ID)
	if dest.Health != store.HealthHealthy {
		t.Errorf("after a successful retry health is %q, want healthy", dest.Health)
	}
}

func TestShutdownSealsOpenBatchesAndRestartDeliversOnce(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 1000, BatchMaxAgeSeconds: 3600})
	stop := runEngine(t, r.engine(delivery.Config{}))
	r.send(t, "s", 120, "track")
	// The batch is open: neither full nor old. Wait until the router holds it.
	time.Sleep(300 * time.Millisecond)
	if ds := r.deliveries(t, m.ID); len(ds) != 0 {
		t.Fatalf("%d files before shutdown; the batch should still be open", len(ds))
	}
	stop()
	ds := r.deliveries(t, m.ID)
	n := 0
	for _, d := range ds {
		n += d.Events
	}
	if n != 120 {
		t.Fatalf("after shutdown %d events are sealed, want all 120", n)
	}
	// Whatever was not uploaded in the grace period goes at the next start.
	runEngine(t, r.engine(delivery.Config{}))
	r.waitDelivered(t, m.ID, 120, 15*time.Second)
	if got := len(r.jsonlIDs(t, "raw/")); got != 120 {
		t.Errorf("%d distinct events in the bucket, want 120", got)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	base, max := time.Second, time.Minute
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		lo, hi := delivery.Backoff(n, base, max, 0), delivery.Backoff(n, base, max, 0.999999)
		if lo > hi || hi > max || lo < prev/2 {
			t.Errorf("attempt %d: backoff in [%v, %v]", n, lo, hi)
		}
		prev = lo
	}
	if got := delivery.Backoff(1, base, max, 0); got != base/2 {
		t.Errorf("first backoff without jitter = %v, want %v", got, base/2)
	}
	if got := delivery.Backoff(40, base, max, 0.999999); got > max {
		t.Errorf("backoff after 40 attempts = %v, want at most %v", got, max)
	}
}

func waitFor(tb testing.TB, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSlowDestinationDoesNotStarveOthers puts one destination behind a front
// that takes seconds per upload; another destination's files still go out
// at once, because each destination gets at most PerDestination workers.
func TestSlowDestinationDoesNotStarveOthers(t *testing.T) {
	ctx := context.Background()
	r := mustRig(t)
	slowProxy := r.viaProxy(t)
	slowProxy.Delay(3 * time.Second)
	slow := r.mustMapping(t, &store.Mapping{Name: "slow", Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 1})

	fastDest := &store.Destination{
		Name: "fast", Enabled: true, SourceIDs: []string{r.Source.ID},
		Config: store.DestinationConfig{Bucket: r.Bucket, Region: r.MinIO.Region, Auth: store.AuthKeys, Endpoint: r.MinIO.Endpoint,
			ForcePathStyle: true, PathPrefix: "fast/"},
		Credentials: store.Credentials{Key: r.MinIO.AccessKey, Secret: r.MinIO.SecretKey},
	}
	if err := r.DB.CreateDestination(ctx, fastDest); err != nil {
		t.Fatal(err)
	}
	fast := &store.Mapping{DestinationID: fastDest.ID, Name: "fast", Enabled: true, Format: "jsonl", BatchSize: 10, BatchMaxAgeSeconds: 1}
	if err := r.DB.CreateMapping(ctx, fast); err != nil {
		t.Fatal(err)
	}
	runEngine(t, r.engine(delivery.Config{Workers: 4, PerDestination: 2}))
	start := time.Now()
	r.send(t, "f", 100, "track")
	r.waitDelivered(t, fast.ID, 100, 15*time.Second)
	took := time.Since(start)
	if took > 2500*time.Millisecond {
		t.Errorf("the fast destination's 10 files took %v while the slow one held its workers", took)
	}
	// The slow destination gets there too, two uploads at a time.
	r.waitDelivered(t, slow.ID, 100, 60*time.Second)
	if slowTook := time.Since(start); slowTook < 10*time.Second {
		t.Errorf("the slow destination's 10 files of 3 s each finished in %v: more than 2 at once", slowTook)
	}
}

// TestDeliveredFileFindsItsDestinationHealthy records, with a trigger in the
// database itself, the destination's health at the moment each file becomes
// delivered: a reader who sees a delivered file must see the destination's
// success too, never the failure before it (which made tests that checked
// health right after waiting for their files flaky).
func TestDeliveredFileFindsItsDestinationHealthy(t *testing.T) {
	r := mustRig(t)
	m := r.mustMapping(t, &store.Mapping{Format: "jsonl", BatchSize: 50, BatchMaxAgeSeconds: 1})
	ctx := context.Background()
	if err := r.DB.RecordFailure(ctx, r.Dest.ID, store.HealthUnhealthy, "AccessDenied", "Access Denied"); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", r.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE seen_health (health TEXT NOT NULL);
		CREATE TRIGGER seen_health AFTER UPDATE OF status ON deliveries WHEN NEW.status = 'delivered'
		BEGIN INSERT INTO seen_health SELECT health FROM destinations WHERE id = NEW.destination_id; END`); err != nil {
		t.Fatal(err)
	}
	runEngine(t, r.engine(delivery.Config{}))
	r.send(t, "h", 100, "track")
	r.waitDelivered(t, m.ID, 100, 15*time.Second)
	rows, err := raw.QueryContext(ctx, `SELECT health FROM seen_health`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, h)
	}
	if len(seen) == 0 {
		t.Fatal("the trigger saw no delivered file")
	}
	for i, h := range seen {
		if h != store.HealthHealthy {
			t.Errorf("file %d became delivered while its destination was %q, want healthy", i, h)
		}
	}
}
