package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	rudder "github.com/rudderlabs/analytics-go/v4"
	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/store"
)

// mustSource creates a source and returns it.
func (e *env) mustSource(tb testing.TB, name string) *store.Source {
	tb.Helper()
	src := &store.Source{Name: name}
	if err := e.DB.CreateSource(context.Background(), src); err != nil {
		tb.Fatal(err)
	}
	return src
}

// storedEvents returns every stored event of a source, oldest first, with
// its message decoded.
func (e *env) storedEvents(tb testing.TB, sourceID string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	var before int64
	for {
		events, next, err := e.DB.ListEvents(context.Background(), store.EventFilter{SourceID: sourceID, Limit: store.MaxPageLimit, Before: before})
		if err != nil {
			tb.Fatal(err)
		}
		for _, ev := range events {
			var m map[string]any
			if err := json.Unmarshal(ev.Body, &m); err != nil {
				tb.Fatal(err)
			}
			out = append([]map[string]any{m}, out...)
		}
		if next == "" {
			return out
		}
		before, _ = store.ParseEventCursor("before", next)
	}
}

// ingest posts a body to an ingestion route.
func (e *env) ingest(tb testing.TB, path, writeKey string, body []byte, header map[string]string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.HTTP.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if writeKey != "" {
		req.SetBasicAuth(writeKey, "")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, readBody(tb, resp)
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestSegmentGoClientSendsEveryCallType(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "backend")
	client, err := segment.NewWithConfig(src.WriteKey, segment.Config{Endpoint: e.HTTP.URL, BatchSize: 100, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []segment.Message{
		segment.Track{MessageId: "m-track", UserId: "u1", Event: "Order Completed", Properties: segment.NewProperties().Set("total", 99.5).Set("currency", "EUR")},
		segment.Identify{MessageId: "m-identify", UserId: "u1", Traits: segment.NewTraits().SetEmail("u1@example.com")},
		segment.Page{MessageId: "m-page", AnonymousId: "a1", Name: "Pricing", Properties: segment.NewProperties().SetURL("https://example.com/pricing")},
		segment.Screen{MessageId: "m-screen", UserId: "u1", Name: "Settings"},
		segment.Group{MessageId: "m-group", UserId: "u1", GroupId: "g1", Traits: segment.NewTraits().SetName("Acme")},
		segment.Alias{MessageId: "m-alias", UserId: "u1", PreviousId: "a1"},
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	got := e.storedEvents(t, src.ID)
	if len(got) != len(msgs) {
		t.Fatalf("stored %d events, want %d", len(got), len(msgs))
	}
	byID := map[string]map[string]any{}
	for _, m := range got {
		byID[m["messageId"].(string)] = m
		lib, _ := m["context"].(map[string]any)["library"].(map[string]any)
		if lib["name"] != "analytics-go" || lib["version"] == "" {
			t.Errorf("%s: context.library = %v, want analytics-go's from the batch envelope", m["messageId"], lib)
		}
		for _, f := range []string{"receivedAt", "timestamp", "sentAt"} {
			if _, ok := m[f].(string); !ok {
				t.Errorf("%s: %s missing", m["messageId"], f)
			}
		}
	}
	checks := []struct{ id, path, want string }{
		{"m-track", "type", "track"}, {"m-track", "event", "Order Completed"}, {"m-track", "userId", "u1"},
		{"m-identify", "type", "identify"}, {"m-page", "type", "page"}, {"m-page", "name", "Pricing"}, {"m-page", "anonymousId", "a1"},
		{"m-screen", "type", "screen"}, {"m-group", "groupId", "g1"}, {"m-alias", "previousId", "a1"},
	}
	for _, c := range checks {
		if got := byID[c.id][c.path]; got != c.want {
			t.Errorf("%s.%s = %v, want %q", c.id, c.path, got, c.want)
		}
	}
	if total := byID["m-track"]["properties"].(map[string]any)["total"]; total != 99.5 {
		t.Errorf("properties.total = %v", total)
	}
	if email := byID["m-identify"]["traits"].(map[string]any)["email"]; email != "u1@example.com" {
		t.Errorf("traits.email = %v", email)
	}
}

func TestRudderGoClientSendsGzippedBatches(t *testing.T) {
	var mu sync.Mutex
	encodings := map[string]int{}
	e := MustEnv(t, envOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/batch" {
				mu.Lock()
				encodings[r.Header.Get("Content-Encoding")]++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}})
	src := e.mustSource(t, "rudder")
	client, err := rudder.NewWithConfig(src.WriteKey, rudder.Config{DataPlaneUrl: e.HTTP.URL, BatchSize: 50, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	for i := 0; i < n; i++ {
		if err := client.Enqueue(rudder.Track{MessageId: fmt.Sprintf("r-%03d", i), UserId: "u", Event: "Viewed", Properties: rudder.NewProperties().Set("i", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	got := e.storedEvents(t, src.ID)
	if len(got) != n {
		t.Fatalf("stored %d events, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, m := range got {
		seen[m["messageId"].(string)] = true
		if lib, _ := m["context"].(map[string]any)["library"].(map[string]any); lib["name"] == nil {
			t.Errorf("%s: no context.library", m["messageId"])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct message ids, want %d", len(seen), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if encodings["gzip"] < 3 || len(encodings) != 1 {
		t.Errorf("request encodings = %v, want only gzip batches (at least 3 of them)", encodings)
	}
}

func TestIngestRejectsBadInputAndStoresNothing(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	track := []byte(`{"userId":"u","event":"E"}`)
	bigEvent := []byte(`{"userId":"u","event":"E","properties":{"p":"` + strings.Repeat("x", 33*1024) + `"}}`)
	var manyEvents []string
	for i := 0; i < 2501; i++ {
		manyEvents = append(manyEvents, `{"type":"track","userId":"u","event":"E"}`)
	}
	// A gzip bomb: 50 MB of zeros compress to about 50 KB.
	bomb := gzipped(t, bytes.Repeat([]byte("0"), 50<<20))
	valid := gzipped(t, []byte(`{"batch":[{"type":"track","userId":"u","event":"E"}]}`))
	tests := []struct {
		name     string
		path     string
		writeKey string
		body     []byte
		header   map[string]string
		status   int
		msg      string
	}{
		{"invalid JSON", "/v1/track", src.WriteKey, []byte(`{"userId":`), nil, 400, "not valid JSON"},
		{"missing write key", "/v1/track", "", track, nil, 401, "Missing write key"},
		{"wrong write key", "/v1/track", "nope", track, nil, 401, "Unknown write key"},
		{"body over 500 KB", "/v1/batch", src.WriteKey, []byte(`{"batch":[],"pad":"` + strings.Repeat("x", 501*1024) + `"}`), nil, 400, "larger than 512000 bytes"},
		{"event over 32 KB", "/v1/track", src.WriteKey, bigEvent, nil, 400, "larger than 32768 bytes"},
		{"batch event over 32 KB", "/v1/batch", src.WriteKey, []byte(`{"batch":[` + string(bigEvent[:len(bigEvent)-1]) + `,"type":"track"}]}`), nil, 400, "each message may be at most"},
		{"2,501 events", "/v1/batch", src.WriteKey, []byte(`{"batch":[` + strings.Join(manyEvents, ",") + `]}`), nil, 400, "2501 messages"},
		{"gzip expanding past the limit", "/v1/batch", src.WriteKey, bomb, map[string]string{"Content-Encoding": "gzip"}, 400, "after decompression"},
		{"truncated gzip stream", "/v1/batch", src.WriteKey, valid[:len(valid)-10], map[string]string{"Content-Encoding": "gzip"}, 400, "damaged or cut short"},
		{"not gzip at all", "/v1/batch", src.WriteKey, []byte(`{"batch":[]}`), map[string]string{"Content-Encoding": "gzip"}, 400, "not a gzip stream"},
		{"unsupported encoding", "/v1/batch", src.WriteKey, []byte(`{"batch":[]}`), map[string]string{"Content-Encoding": "br"}, 400, "not supported"},
		{"non-object JSON", "/v1/batch", src.WriteKey, []byte(`[{"type":"track","userId":"u","event":"E"}]`), nil, 400, "must be a JSON object"},
		{"invalid single call", "/v1/track", src.WriteKey, []byte(`{"event":"E"}`), nil, 400, "userId or anonymousId"},
		{"publish without key", "/api/v1/publish", "", []byte(`{"topic":"t","data":{}}`), nil, 401, "Missing write key"},
		{"publish invalid", "/api/v1/publish", "", []byte(`{"topic":"t"}`), map[string]string{"Authorization": "Bearer " + src.WriteKey}, 400, "data must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.ingest(t, tt.path, tt.writeKey, tt.body, tt.header)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if got := mustAPIError(t, body); !strings.Contains(got.Error.Message, tt.msg) {
				t.Errorf("message = %q, want it to mention %q", got.Error.Message, tt.msg)
			}
		})
	}
	if n, err := e.DB.LastSeq(t.Context()); err != nil || n != 0 {
		t.Errorf("%d events stored by bad requests, %v", n, err)
	}
}

func TestBatchWithAnInvalidMessageStoresTheOthers(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	body := []byte(`{"batch":[
		{"type":"track","userId":"u","event":"A"},
		{"type":"track","userId":"u"},
		{"type":"identify","anonymousId":"a"}]}`)
	resp, out := e.ingest(t, "/v1/batch", src.WriteKey, body, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(out) != `{"success":true}` {
		t.Fatalf("status %d body %s", resp.StatusCode, out)
	}
	if got := e.storedEvents(t, src.ID); len(got) != 2 {
		t.Errorf("stored %d events, want 2", len(got))
	}
	drops, err := e.DB.ListDrops(t.Context(), src.ID)
	if err != nil || len(drops) != 1 || drops[0].Reason != store.DropMissingEvent || drops[0].Count != 1 {
		t.Errorf("drops = %+v, %v; want one missing_event", drops, err)
	}
	_, metrics := e.apiGet(t, "/metrics", "")
	if !strings.Contains(metrics, `s3relay_events_dropped_total{reason="missing_event"} 1`) || !strings.Contains(metrics, "s3relay_events_received_total 2") {
		t.Errorf("metrics do not count the batch:\n%s", grepLines(metrics, "s3relay_events"))
	}
}

func TestRetriedMessageIDsAreStoredOnce(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	body := []byte(`{"batch":[{"type":"track","userId":"u","event":"A","messageId":"dup-1"},{"type":"track","userId":"u","event":"B","messageId":"dup-2"}]}`)
	for i := 0; i < 3; i++ {
		if resp, out := e.ingest(t, "/v1/batch", src.WriteKey, body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("attempt %d: %d %s", i, resp.StatusCode, out)
		}
	}
	if got := e.storedEvents(t, src.ID); len(got) != 2 {
		t.Errorf("stored %d events after three sends, want 2", len(got))
	}
}

func TestWriteKeyInBodyAndFormContentType(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "node")
	// analytics-node puts the write key in the body; rudder-sdk-node gzips
	// with a form content type.
	body := []byte(`{"batch":[{"type":"track","userId":"u","event":"A"}],"writeKey":"` + src.WriteKey + `"}`)
	if resp, out := e.ingest(t, "/v1/batch", "", body, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("write key in body: %d %s", resp.StatusCode, out)
	}
	hdr := map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"}
	if resp, out := e.ingest(t, "/v1/batch", src.WriteKey, gzipped(t, body), hdr); resp.StatusCode != http.StatusOK {
		t.Errorf("gzip with a form content type: %d %s", resp.StatusCode, out)
	}
	stored := e.storedEvents(t, src.ID)
	if len(stored) != 2 {
		t.Fatalf("stored %d, want 2", len(stored))
	}
	if _, ok := stored[0]["writeKey"]; ok {
		t.Error("the write key was stored with the event")
	}
}

func TestPublishAPI(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "jobs")
	auth := map[string]string{"Authorization": "Bearer " + src.WriteKey}
	body := []byte(`{"id":"evt-1","topic":"user.created","data":{"user":"u1"},"metadata":{"region":"eu"}}`)
	for i := 0; i < 2; i++ {
		resp, out := e.ingest(t, "/api/v1/publish", "", body, auth)
		if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(out) != `{"id":"evt-1"}` {
			t.Fatalf("publish %d: %d %s", i, resp.StatusCode, out)
		}
	}
	resp, out := e.ingest(t, "/api/v1/publish", "", []byte(`{"topic":"user.deleted","data":{}}`), auth)
	var gen map[string]string
	json.Unmarshal([]byte(out), &gen)
	if resp.StatusCode != http.StatusAccepted || gen["id"] == "" {
		t.Errorf("publish without id: %d %s, want a generated id", resp.StatusCode, out)
	}
	stored := e.storedEvents(t, src.ID)
	if len(stored) != 2 || stored[0]["topic"] != "user.created" || stored[1]["id"] != gen["id"] {
		t.Errorf("stored = %v", stored)
	}
	if resp, _ := e.ingest(t, "/api/v1/publish", "", body, map[string]string{"Authorization": "Bearer wrong"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong write key: %d", resp.StatusCode)
	}
}

type fixedBacklog int64

func (b fixedBacklog) Backlog(context.Context) (int64, error) { return int64(b), nil }

func TestBacklogLimitAnswers429(t *testing.T) {
	e := MustEnv(t, envOptions{maxBacklog: 1000, backlog: fixedBacklog(1000)})
	src := e.mustSource(t, "web")
	resp, out := e.ingest(t, "/v1/track", src.WriteKey, []byte(`{"userId":"u","event":"E"}`), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := mustAPIError(t, out); got.Error.Code != "limit" {
		t.Errorf("error code %q, want limit", got.Error.Code)
	}
	if n, _ := e.DB.LastSeq(t.Context()); n != 0 {
		t.Errorf("%d events stored while refusing", n)
	}
	under := MustEnv(t, envOptions{maxBacklog: 1000, backlog: fixedBacklog(999)})
	src = under.mustSource(t, "web")
	if resp, _ := under.ingest(t, "/v1/track", src.WriteKey, []byte(`{"userId":"u","event":"E"}`), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("under the limit: %d", resp.StatusCode)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
