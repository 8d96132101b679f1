package main_test

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store/pgtest"
)

// TestClusterDatabaseRestartLosesNothing: PostgreSQL stops (a restart or a
// failover, as the replicas see it) while an unmodified analytics-go client
// sends and files are sealed and uploaded. The replicas leave the balancer's
// pool (/readyz 503) and refuse events rather than acknowledge what they
// cannot store; once the database is back they return to the pool without a
// restart of their own, the client's retries go through, and every event is
// in exactly one object, no file uploaded by two replicas at once.
func TestClusterDatabaseRestartLosesNothing(t *testing.T) {
	mio := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	const bucket = "events"
	mio.MustCreateBucket(t, bucket)
	pg := pgtest.NewServer(t)
	key := make([]byte, 32)
	crand.Read(key)
	c := newCluster(t, pg.URL(t), hex.EncodeToString(key), 2)
	token := c.createToken(c.signIn(), c.Replicas[0], c.Replicas[1])
	hc := c.httpClient()
	base := "http://s3relay.cluster" // any name: the dialer picks the replica
	writeKey, ids := mustAPIPipeline(t, hc, base, token, mio, bucket, map[string]any{
		"name": "tracks csv", "format": "csv", "folder": "tracks", "trigger": `type = "track"`, "batch_size": 500, "batch_max_age_seconds": 1,
		"columns": []map[string]string{{"name": "message_id", "value": "$.messageId"}, {"name": "event_name", "value": "$.event"}},
	})

	const n = 20000
	var acked, failed atomic.Int64
	client, err := segment.NewWithConfig(writeKey, segment.Config{Endpoint: base, BatchSize: 250, Interval: 50 * time.Millisecond,
		Transport: hc.Transport, Logger: discardLogger{},
		Callback:   callback{ok: func(segment.Message) { acked.Add(1) }, fail: func(segment.Message, error) { failed.Add(1) }},
		RetryAfter: func(attempt int) time.Duration { return time.Duration(300*(attempt+1)) * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < n; i++ {
			if i%500 == 0 && i > 0 {
				<-tick.C
			}
			client.Enqueue(segment.Track{MessageId: fmt.Sprintf("db-%05d", i), UserId: "u", Event: "Order Completed"})
		}
	}()

	ready := func(r *replica) int {
		resp, err := http.Get(r.URL + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitReady := func(want int, within time.Duration) {
		t.Helper()
		for _, r := range c.Replicas {
			deadline := time.Now().Add(within)
			for ready(r) != want {
				if time.Now().After(deadline) {
					t.Fatalf("%s: /readyz did not answer %d within %v (database %s)\n%s", r.ID, want, within,
						map[int]string{http.StatusOK: "back", http.StatusServiceUnavailable: "stopped"}[want], problems(r.log.String(), 10))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	time.Sleep(1500 * time.Millisecond)
	before := acked.Load()
	pg.Stop(t)
	t.Logf("database stopped (%d events acknowledged so far)", before)
	waitReady(http.StatusServiceUnavailable, 10*time.Second)
	time.Sleep(2 * time.Second)
	pg.Start(t)
	t.Logf("database started again (%d events acknowledged so far)", acked.Load())
	waitReady(http.StatusOK, 15*time.Second)

	<-sent
	deadline := time.Now().Add(60 * time.Second)
	for acked.Load()+failed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d of %d events acknowledged, %d failed", acked.Load(), n, failed.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	client.Close()
	if failed.Load() > 0 {
		t.Fatalf("%d events never acknowledged: the client gave up on them", failed.Load())
	}
	deliveries := waitAPIDelivered(t, hc, base, token, ids[0], n, 90*time.Second)
	p := &pipeline{MinIO: mio, Bucket: bucket}
	got, files := p.objectIDs(t, "tracks/")
	missing := 0
	for i := 0; i < n; i++ {
		switch k := got[fmt.Sprintf("db-%05d", i)]; {
		case k == 0:
			missing++
		case k != 1:
			t.Errorf("db-%05d is in %d objects, want 1", i, k)
		}
	}
	if missing > 0 {
		t.Errorf("%d events in no object (%d files)", missing, files)
	}
	for _, d := range deliveries {
		var detail apiDeliveryJSON
		if status := api(t, hc, http.MethodGet, base+"/api/v1/deliveries/"+d.ID, token, nil, &detail); status != http.StatusOK {
			t.Fatalf("GET /api/v1/deliveries/%s: status %d", d.ID, status)
		}
		if err := overlappingAttempts(detail.AttemptLog); err != nil {
			t.Errorf("delivery %s (%s): %v", d.ID, d.Key, err)
		}
	}
	for _, r := range c.Replicas {
		if !r.running() {
			t.Errorf("%s exited: a database restart must not end a replica", r.ID)
		}
	}
	t.Logf("%d events in %d files", len(got), files)
}
