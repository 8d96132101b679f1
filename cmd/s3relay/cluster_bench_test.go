package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

// clusterRates are one mode's figures: events/s acknowledged over HTTP, and
// events/s from the first request to the last event written to S3.
type clusterRates struct {
	ingest, endToEnd float64
}

// BenchmarkPostgres runs the same workload (100,000 events in 100-event
// /v1/batch requests from 8 clients, one csv mapping of 1,000-event files)
// against one server on SQLite, one replica on PostgreSQL and three replicas
// on PostgreSQL (requests spread over them), everything on this machine, and
// reports ingestion and end-to-end events/s of each with the PostgreSQL /
// SQLite ratios. Targets: PostgreSQL end to end at least 50% of SQLite's;
// three replicas not slower than one.
func BenchmarkPostgres(b *testing.B) {
	const (
		events  = 100000
		perReq  = 100
		clients = 8
	)
	bodies := make([][]byte, events/perReq)
	for j := range bodies {
		var sb strings.Builder
		sb.WriteString(`{"batch":[`)
		for k := 0; k < perReq; k++ {
			if k > 0 {
				sb.WriteByte(',')
			}
			// Random ids, as the Segment libraries send (analytics-go: a
			// UUID v4 per message), not ascending ones: an index of
			// ascending keys favours a single writer unrealistically.
			fmt.Fprintf(&sb, `{"type":"track","messageId":%q,"userId":"user-%d","event":"Order Completed","properties":{"order":"o-%d","total":%d.5,"currency":"EUR"}}`, uuid.NewString(), k%97, j*perReq+k, k)
		}
		sb.WriteString(`],"context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`)
		bodies[j] = []byte(sb.String())
	}
	for i := 0; i < b.N; i++ {
		mio := miniotest.Start(b)
		miniotest.IsolateAWSEnv(b)
		modes := []struct {
			name  string
			start func() *cluster
		}{
			{"sqlite", func() *cluster { return startSQLite(b) }},
			{"pg-1", func() *cluster { return startCluster(b, 1) }},
			{"pg-3", func() *cluster { return startCluster(b, 3) }},
		}
		rates := map[string]clusterRates{}
		for _, mode := range modes {
			bucket := "bench-" + mode.name
			mio.MustCreateBucket(b, bucket)
			c := mode.start()
			rates[mode.name] = benchCluster(b, c, mio, bucket, bodies, clients, events)
			for _, r := range c.Replicas {
				r.kill()
			}
			b.Logf("%s: ingest %.0f events/s, end to end %.0f events/s", mode.name, rates[mode.name].ingest, rates[mode.name].endToEnd)
		}
		sq, one, three := rates["sqlite"], rates["pg-1"], rates["pg-3"]
		b.ReportMetric(sq.ingest, "sqlite-ingest-events/s")
		b.ReportMetric(sq.endToEnd, "sqlite-e2e-events/s")
		b.ReportMetric(one.ingest, "pg1-ingest-events/s")
		b.ReportMetric(one.endToEnd, "pg1-e2e-events/s")
		b.ReportMetric(three.ingest, "pg3-ingest-events/s")
		b.ReportMetric(three.endToEnd, "pg3-e2e-events/s")
		b.ReportMetric(100*one.endToEnd/sq.endToEnd, "%pg1/sqlite-e2e")
		b.ReportMetric(100*three.endToEnd/one.endToEnd, "%pg3/pg1-e2e")
		b.Logf("PostgreSQL / SQLite: ingest %.0f%% (1 replica), %.0f%% (3 replicas); end to end %.0f%% (1 replica), %.0f%% (3 replicas); 3 replicas / 1: ingest %.0f%%, end to end %.0f%%",
			100*one.ingest/sq.ingest, 100*three.ingest/sq.ingest, 100*one.endToEnd/sq.endToEnd, 100*three.endToEnd/sq.endToEnd,
			100*three.ingest/one.ingest, 100*three.endToEnd/one.endToEnd)
	}
}

// benchCluster sets up a pipeline through the cluster's API, sends bodies
// from concurrent clients spread over its replicas and waits until every
// event is written to S3.
func benchCluster(b *testing.B, c *cluster, mio *miniotest.Server, bucket string, bodies [][]byte, clients, events int) clusterRates {
	b.Helper()
	token := c.createToken(c.signIn(), c.Replicas[0], c.Replicas[len(c.Replicas)-1])
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	writeKey, ids := mustAPIPipeline(b, hc, c.Replicas[0].URL, token, mio, bucket, map[string]any{
		"name": "bench", "format": "csv", "folder": "bench", "trigger": `type = "track"`, "batch_size": 1000, "batch_max_age_seconds": 1,
		"columns": []map[string]string{{"name": "message_id", "value": "$.messageId"}, {"name": "event_name", "value": "$.event"},
			{"name": "user_id", "value": "$.userId"}, {"name": "properties", "value": "$.properties"}, {"name": "timestamp", "value": "$.timestamp"}},
	})
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		// Each client talks to one replica, the clients spread evenly.
		base := c.Replicas[w%len(c.Replicas)].URL
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(bodies) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/batch", bytes.NewReader(bodies[j]))
				req.SetBasicAuth(writeKey, "")
				resp, err := hc.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("send: %v %v", resp, err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	ingested := time.Since(start)
	waitAPIDelivered(b, hc, c.Replicas[0].URL, token, ids[0], events, 5*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	return clusterRates{ingest: float64(events) / ingested.Seconds(), endToEnd: float64(events) / elapsed.Seconds()}
}
