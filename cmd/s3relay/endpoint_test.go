package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// apiDo calls the management API and decodes its JSON answer into out.
func apiDo(tb testing.TB, method, url, token, body string, out any) int {
	tb.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		tb.Fatalf("%s %s: %d %q is not JSON: %v", method, url, resp.StatusCode, b, err)
	}
	return resp.StatusCode
}

type testResult struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Name, Code, Message, Hint string
	} `json:"steps"`
}

type deliveryList struct {
	Data []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"data"`
}

// waitDelivery polls the deliveries of destination id until one has status.
func waitDelivery(tb testing.TB, s *server, token, id, status string) (deliveryID, lastError string, attempts int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list deliveryList
		apiDo(tb, http.MethodGet, s.URL+"/api/v1/deliveries?destination_id="+url.QueryEscape(id), token, "", &list)
		for _, d := range list.Data {
			if d.Status == status {
				return d.ID, d.LastError, d.Attempts
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no %s delivery: %+v\n%s", status, list, lastLines(s.log.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDenyPrivateEndpoints runs the server with S3RELAY_DENY_PRIVATE_ENDPOINTS
// against a MinIO on 127.0.0.1: connection tests and uploads are refused
// before connecting, a literal private endpoint is refused when saved, and
// the same data dir delivers again once the server runs without it.
func TestDenyPrivateEndpoints(t *testing.T) {
	m := &store.Mapping{Name: "all", Format: "jsonl", Trigger: `type = "track"`, BatchSize: 1, BatchMaxAgeSeconds: 1}
	p := mustPipeline(t, m)
	stdout, stderr, code := runCLI(t, "", "token", "create", "--name", "ci", "--data-dir", p.DataDir)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	token := strings.TrimSpace(stdout)
	s := startServer(t, p.DataDir, "S3RELAY_DENY_PRIVATE_ENDPOINTS=true")

	var res testResult
	apiDo(t, http.MethodPost, s.URL+"/api/v1/destinations/"+p.Dest.ID+"/test", token, "", &res)
	if res.OK || len(res.Steps) != 2 || res.Steps[1].Code != "EndpointNotAllowed" ||
		!strings.Contains(res.Steps[1].Message, "127.0.0.1 is a loopback address") || !strings.Contains(res.Steps[1].Hint, "--deny-private-endpoints") {
		t.Errorf("test of the MinIO destination: got %+v, want the write step refused for the loopback address", res)
	}

	// A literal private address is refused when saved, on the field.
	body := func(endpoint string) string {
		b, _ := json.Marshal(map[string]any{"name": "private", "config": map[string]any{
			"bucket": p.Bucket, "region": p.MinIO.Region, "auth": "keys", "endpoint": endpoint, "force_path_style": true,
		}, "credentials": map[string]any{"key": p.MinIO.AccessKey, "secret": p.MinIO.SecretKey}})
		return string(b)
	}
	var apiErr struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	for _, endpoint := range []string{p.MinIO.Endpoint, "http://10.0.0.5:9000", "http://[::1]:9000", "http://169.254.169.254"} {
		if status := apiDo(t, http.MethodPost, s.URL+"/api/v1/destinations", token, body(endpoint), &apiErr); status != http.StatusBadRequest ||
			apiErr.Error.Field != "config.endpoint" || !strings.Contains(apiErr.Error.Message, "not allowed") {
			t.Errorf("create with %s: %d %+v, want 400 on config.endpoint", endpoint, status, apiErr)
		}
	}
	// A name passes, and is refused once resolved.
	var created struct{ ID string }
	byName := strings.Replace(p.MinIO.Endpoint, "127.0.0.1", "localhost", 1)
	if status := apiDo(t, http.MethodPost, s.URL+"/api/v1/destinations", token, body(byName), &created); status != http.StatusCreated {
		t.Fatalf("create with %s: status %d, want 201", byName, status)
	}
	apiDo(t, http.MethodPost, s.URL+"/api/v1/destinations/"+created.ID+"/test", token, "", &res)
	if res.OK || len(res.Steps) != 2 || res.Steps[1].Code != "EndpointNotAllowed" || !strings.Contains(res.Steps[1].Message, "localhost resolves to") {
		t.Errorf("test of %s: got %+v, want the write step refused once localhost is resolved", byName, res)
	}

	// An upload fails for good at its first attempt, and nothing is written.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/track", strings.NewReader(`{"userId":"u1","event":"Signed Up","messageId":"deny-1"}`))
	req.SetBasicAuth(p.Source.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("track: status %d", resp.StatusCode)
	}
	deliveryID, lastError, attempts := waitDelivery(t, s, token, p.Dest.ID, store.StatusFailed)
	if attempts != 1 || !strings.Contains(lastError, "loopback") || !strings.Contains(lastError, "--deny-private-endpoints") {
		t.Errorf("failed delivery: %d attempts, last error %q; want one attempt refused with the hint", attempts, lastError)
	}
	if keys := p.MinIO.MustListKeys(t, p.Bucket, ""); len(keys) != 0 {
		t.Errorf("objects in MinIO: got %q, want none", keys)
	}
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}

	// Without the flag, the default, the same MinIO works.
	s = startServer(t, p.DataDir)
	apiDo(t, http.MethodPost, s.URL+"/api/v1/destinations/"+p.Dest.ID+"/test", token, "", &res)
	if !res.OK {
		t.Errorf("test without the flag: got %+v, want it to pass", res)
	}
	var retried map[string]any
	if status := apiDo(t, http.MethodPost, s.URL+"/api/v1/deliveries/"+deliveryID+"/retry", token, "", &retried); status != http.StatusOK {
		t.Fatalf("retry: status %d %v", status, retried)
	}
	waitDelivery(t, s, token, p.Dest.ID, store.StatusDelivered)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
