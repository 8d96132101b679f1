package web_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// randomLetters returns n random letters, a valid HTTP method or path segment.
func randomLetters(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = 'A' + b[i]%26
	}
	return string(b)
}

func TestMetricsLabelsComeFromAClosedSet(t *testing.T) {
	e := MustEnv(t)
	_, before := e.apiGet(t, "/metrics", "")
	const requests = 100
	for i := range requests {
		method := randomLetters(60 << 10)
		path := "/"
		if i%2 == 1 {
			path = "/nowhere/" + randomLetters(2000)
		}
		req, err := http.NewRequest(method, e.HTTP.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
	}
	e.apiGet(t, "/nowhere/"+randomLetters(100), "")
	e.apiGet(t, "/api/v1/sources/src_"+randomLetters(20), "")
	resp, after := e.apiGet(t, "/metrics", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	// A few new series (other and unmatched), never one per request.
	if grown := len(after) - len(before); grown > 16<<10 {
		t.Errorf("/metrics grew by %d bytes after %d requests with made-up methods", grown, requests)
	}
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "s3relay_http_request_duration_seconds_count") && len(line) > 200 {
			t.Errorf("long label: %.200s...", line)
			break
		}
	}
	// Made-up methods count as "other", paths under their route pattern.
	for _, want := range []string{
		`s3relay_http_request_duration_seconds_count{method="other",route="/*",status="403"} 100`,
		`s3relay_http_request_duration_seconds_count{method="GET",route="/*",status="303"} 1`,
		`s3relay_http_request_duration_seconds_count{method="GET",route="/api/v1/sources/:id",status="401"} 1`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		fmt.Println(grepLines(after, "s3relay_http_request_duration_seconds_count"))
	}
}

// Several replicas serve one cluster: every metric, the server's own and
// those other parts add (the engine's), names its replica.
func TestMetricsCarryReplicaLabel(t *testing.T) {
	e := MustEnv(t, envOptions{replica: "replica-7"})
	e.Server.Registerer().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3relay_test_gauge", Help: "A part's metric."},
		func() float64 { return 1 }))
	e.apiGet(t, "/login", "")
	_, body := e.apiGet(t, "/metrics", "")
	var n int
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		if !strings.Contains(line, `replica="replica-7"`) {
			t.Errorf("metric without the replica label: %s", line)
		}
	}
	for _, want := range []string{`s3relay_test_gauge{replica="replica-7"} 1`, `s3relay_build_info{replica="replica-7",version="test"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n == 0 {
		t.Fatalf("/metrics is empty")
	}
}
