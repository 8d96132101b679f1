package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

// TestClusterUploadsSpreadOverReplicas: files sealed by the router's
// replica are uploaded by all three replicas, not mostly by the router's
// own: each seal's NOTIFY wakes every replica's uploader at once (before,
// the others found work only at their next poll, a second later, and the
// router's replica uploaded nearly every file). Every file has exactly one,
// successful, attempt.
func TestClusterUploadsSpreadOverReplicas(t *testing.T) {
	mio := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	const bucket = "spread"
	mio.MustCreateBucket(t, bucket)
	c := startCluster(t, 3)
	token := c.createToken(c.signIn(), c.Replicas[0], c.Replicas[1])
	hc := &http.Client{Timeout: 30 * time.Second}
	writeKey, ids := mustAPIPipeline(t, hc, c.Replicas[0].URL, token, mio, bucket, map[string]any{
		"name": "spread", "format": "jsonl", "folder": "spread", "trigger": `type = "track"`, "batch_size": 100, "batch_max_age_seconds": 1,
	})
	const requests, perReq = 150, 100
	for j := 0; j < requests; j++ {
		var sb strings.Builder
		sb.WriteString(`{"batch":[`)
		for k := 0; k < perReq; k++ {
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"type":"track","messageId":"sp-%d-%d","userId":"u%d","event":"Order Completed"}`, j, k, k)
		}
		sb.WriteString(`]}`)
		req, _ := http.NewRequest(http.MethodPost, c.Replicas[j%3].URL+"/v1/batch", bytes.NewReader([]byte(sb.String())))
		req.SetBasicAuth(writeKey, "")
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("send: %v %v", resp, err)
		}
		resp.Body.Close()
		// A steady pace: files are sealed a few at a time, as in real traffic.
		time.Sleep(20 * time.Millisecond)
	}
	ds := waitAPIDelivered(t, hc, c.Replicas[0].URL, token, ids[0], requests*perReq, 2*time.Minute)
	by := map[string]int{}
	for _, d := range ds {
		var detail apiDeliveryJSON
		if status := api(t, hc, http.MethodGet, c.Replicas[0].URL+"/api/v1/deliveries/"+d.ID, token, nil, &detail); status != http.StatusOK {
			t.Fatalf("GET /api/v1/deliveries/%s: status %d", d.ID, status)
		}
		if len(detail.AttemptLog) != 1 || !detail.AttemptLog[0].OK {
			t.Errorf("file %s: attempts %+v, want one successful", d.Key, detail.AttemptLog)
			continue
		}
		by[detail.AttemptLog[0].Replica]++
	}
	for _, r := range c.Replicas {
		if by[r.ID] < len(ds)/20 {
			t.Errorf("uploads by replica: %v of %d files; want each replica to upload at least a twentieth (the router's replica alone uploaded all but a few before)", by, len(ds))
			break
		}
	}
	t.Logf("uploads by replica: %v", by)
}
