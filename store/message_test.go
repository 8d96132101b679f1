package store_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("stored body is not JSON: %v: %s", err, b)
	}
	return m
}

func TestTimestampRule(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"explicit timestamp kept", `{"timestamp":"2026-02-01T10:00:00.000Z","originalTimestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:05Z"}`, "2026-02-01T10:00:00.000Z"},
		{"explicit timestamp with offset", `{"timestamp":"2026-02-01T12:00:00+02:00"}`, "2026-02-01T10:00:00.000Z"},
		{"original corrected for skew", `{"originalTimestamp":"2026-03-01T11:00:00Z","sentAt":"2026-03-01T11:00:05Z"}`, "2026-03-01T11:59:55.000Z"},
		{"original with a fast client clock", `{"originalTimestamp":"2026-03-01T13:00:00Z","sentAt":"2026-03-01T13:00:02.500Z"}`, "2026-03-01T11:59:57.500Z"},
		{"original without sentAt", `{"originalTimestamp":"2026-03-01T11:30:00Z"}`, "2026-03-01T11:30:00.000Z"},
		{"neither", `{}`, "2026-03-01T12:00:00.000Z"},
		{"unparseable timestamp falls back", `{"timestamp":"yesterday"}`, "2026-03-01T12:00:00.000Z"},
		{"timestamp of the wrong type falls back", `{"timestamp":12345}`, "2026-03-01T12:00:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(`{"userId":"u1","event":"E",`+tt.msg[1:], ",}", "}", 1)
			req, err := store.ParseSegment([]byte(body), "track", received)
			if err != nil {
				t.Fatal(err)
			}
			m := req.Messages[0]
			if got := m.Timestamp.Format("2006-01-02T15:04:05.000Z"); got != tt.want {
				t.Errorf("Timestamp = %s, want %s", got, tt.want)
			}
			stored := decode(t, m.Body)
			if stored["timestamp"] != tt.want || stored["receivedAt"] != "2026-03-01T12:00:00.000Z" {
				t.Errorf("stored timestamp %v receivedAt %v", stored["timestamp"], stored["receivedAt"])
			}
		})
	}
}

func TestParseSegmentSingleCalls(t *testing.T) {
	tests := []struct {
		endpoint, body string
		wantErr        string // "" when valid
		check          func(t *testing.T, m map[string]any)
	}{
		{"track", `{"userId":"u1","event":"Order Completed","properties":{"total":99.90}}`, "", func(t *testing.T, m map[string]any) {
			if m["type"] != "track" || m["event"] != "Order Completed" || m["properties"].(map[string]any)["total"] != 99.9 {
				t.Errorf("stored %v", m)
			}
		}},
		{"identify", `{"anonymousId":"a1","traits":{"email":"x@example.com"},"type":"track"}`, "", func(t *testing.T, m map[string]any) {
			if m["type"] != "identify" {
				t.Errorf("type = %v, want the endpoint's type", m["type"])
			}
		}},
		{"page", `{"userId":"u1","name":"Home"}`, "", nil},
		{"screen", `{"userId":"u1","name":"Settings"}`, "", nil},
		{"group", `{"userId":"u1","groupId":"g1"}`, "", nil},
		{"alias", `{"userId":"u1","previousId":"anon-9"}`, "", nil},
		{"identify", `{"userId":12345}`, "", func(t *testing.T, m map[string]any) {
			if m["userId"] != "12345" {
				t.Errorf("numeric userId stored as %#v, want the string \"12345\"", m["userId"])
			}
		}},
		{"track", `{"userId":"u1","event":"E","writeKey":"secret"}`, "", func(t *testing.T, m map[string]any) {
			if _, ok := m["writeKey"]; ok {
				t.Error("the write key was stored")
			}
			if id, _ := m["messageId"].(string); !strings.HasPrefix(id, "s3r-") {
				t.Errorf("generated messageId = %v", m["messageId"])
			}
		}},
		{"track", `{"userId":"u1","event":"E","messageId":"m-1","properties":{"big":9007199254740993}}`, "", func(t *testing.T, m map[string]any) {
			if m["messageId"] != "m-1" {
				t.Errorf("messageId = %v", m["messageId"])
			}
		}},
		{"track", `{"userId":"u1"}`, "event is required", nil},
		{"track", `{"event":"E"}`, "userId or anonymousId", nil},
		{"track", `{"userId":"  ","event":"E"}`, "userId or anonymousId", nil},
		{"group", `{"userId":"u1"}`, "groupId is required", nil},
		{"alias", `{"userId":"u1"}`, "previousId is required", nil},
		{"track", `{"userId":"u1","event":"E","properties":[1,2]}`, "properties must be an object", nil},
		{"track", `{"userId":{"a":1},"event":"E"}`, "userId must be a string", nil},
		{"track", `{"userId":"u1","event":"E"`, "not valid JSON", nil},
		{"track", `[{"userId":"u1","event":"E"}]`, "must be a JSON object", nil},
		{"track", `"text"`, "must be a JSON object", nil},
		{"track", `{"userId":"u1","event":"E"} {}`, "data after", nil},
		{"track", ``, "not valid JSON", nil},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+" "+tt.body, func(t *testing.T) {
			req, err := store.ParseSegment([]byte(tt.body), tt.endpoint, received)
			if tt.wantErr != "" {
				if store.ErrorCode(err) != store.EINVALID || !strings.Contains(store.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("err = %v, want invalid mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Messages) != 1 {
				t.Fatalf("messages = %d", len(req.Messages))
			}
			m := req.Messages[0]
			if m.Kind != store.KindSegment || m.Type != tt.endpoint {
				t.Errorf("kind %q type %q", m.Kind, m.Type)
			}
			if tt.check != nil {
				tt.check(t, decode(t, m.Body))
			}
		})
	}
}

func TestParseSegmentBatch(t *testing.T) {
	body := `{
		"batch": [
			{"type":"track","userId":"u1","event":"A","context":{"ip":"1.2.3.4"}},
			{"type":"identify","userId":"u2","sentAt":"2026-03-01T11:59:00Z","originalTimestamp":"2026-03-01T11:58:00Z"},
			{"type":"track","userId":"u3"},
			{"type":"unknown","userId":"u4"},
			"not an object",
			{"type":"page","anonymousId":"a5","integrations":{"All":false}}
		],
		"context": {"library": {"name": "analytics-go", "version": "3.3.0"}, "ip": "9.9.9.9"},
		"integrations": {"All": true, "Mixpanel": false},
		"sentAt": "2026-03-01T11:59:50Z",
		"writeKey": "wk"
	}`
	req, err := store.ParseSegment([]byte(body), "batch", received)
	if err != nil {
		t.Fatal(err)
	}
	if req.WriteKey != "wk" {
		t.Errorf("WriteKey = %q", req.WriteKey)
	}
	if len(req.Messages) != 3 {
		t.Fatalf("accepted %d messages, want 3", len(req.Messages))
	}
	var reasons []string
	for _, d := range req.Drops {
		reasons = append(reasons, d.Reason)
	}
	if strings.Join(reasons, ",") != "missing_event,unknown_type,not_object" {
		t.Errorf("drops = %v", reasons)
	}
	first := decode(t, req.Messages[0].Body)
	ctx := first["context"].(map[string]any)
	if ctx["ip"] != "1.2.3.4" {
		t.Errorf("the message's own context key must win: ip = %v", ctx["ip"])
	}
	if lib, _ := ctx["library"].(map[string]any); lib["name"] != "analytics-go" {
		t.Errorf("context.library from the envelope = %v", ctx["library"])
	}
	if first["sentAt"] != "2026-03-01T11:59:50Z" {
		t.Errorf("sentAt from the envelope = %v", first["sentAt"])
	}
	second := decode(t, req.Messages[1].Body)
	if second["sentAt"] != "2026-03-01T11:59:00Z" || second["timestamp"] != "2026-03-01T11:59:00.000Z" {
		t.Errorf("the message's own sentAt must win: sentAt %v timestamp %v", second["sentAt"], second["timestamp"])
	}
	third := decode(t, req.Messages[2].Body)
	if in := third["integrations"].(map[string]any); in["All"] != false || in["Mixpanel"] != false {
		t.Errorf("integrations merge = %v", in)
	}
}

func TestParseSegmentLimits(t *testing.T) {
	event := func(size int) string {
		return `{"type":"track","userId":"u","event":"E","properties":{"p":"` + strings.Repeat("x", size) + `"}}`
	}
	batch := func(events ...string) string { return `{"batch":[` + strings.Join(events, ",") + `]}` }
	many := make([]string, 2501)
	for i := range many {
		many[i] = `{"type":"track","userId":"u","event":"E"}`
	}
	tests := []struct {
		name, endpoint, body, want string
	}{
		{"single call over 32 KB", "track", `{"userId":"u","event":"E","properties":{"p":"` + strings.Repeat("x", 33000) + `"}}`, "at most 32768"},
		{"one batch event over 32 KB", "batch", batch(event(10), event(33000)), "Message 1 is"},
		{"batch over 500 KB", "batch", batch(event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000), event(30000)), "at most 512000"},
		{"2,501 events", "batch", batch(many...), "2501 messages"},
		{"no batch array", "batch", `{"messages":[]}`, "needs a \"batch\" array"},
		{"batch not an array", "batch", `{"batch":{}}`, "must be an array"},
		{"non-object body", "batch", `[1,2]`, "must be a JSON object"},
		{"invalid JSON", "batch", `{"batch":[{"type":"track",]}`, "not valid JSON"},
		{"context not an object", "batch", `{"batch":[],"context":"x"}`, "context has the wrong JSON type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.ParseSegment([]byte(tt.body), tt.endpoint, received)
			if store.ErrorCode(err) != store.EINVALID || !strings.Contains(store.ErrorMessage(err), tt.want) {
				t.Errorf("err = %v, want invalid mentioning %q", err, tt.want)
			}
		})
	}
	// Exactly at the limits is accepted.
	ok := make([]string, 2500)
	for i := range ok {
		ok[i] = `{"type":"track","userId":"u","event":"E"}`
	}
	if req, err := store.ParseSegment([]byte(batch(ok...)), "batch", received); err != nil || len(req.Messages) != 2500 {
		t.Errorf("2,500 events: %v", err)
	}
}

func TestParsePublish(t *testing.T) {
	tests := []struct {
		body, field, want string
	}{
		{`{"topic":"user.created","data":{"id":1}}`, "", ""},
		{`{"id":"evt-1","topic":"t","data":{},"metadata":{"k":"v"},"time":"2026-01-02T03:04:05.123456Z"}`, "", ""},
		{`{"topic":"t","data":{},"tenant_id":"x","destination_id":"y","eligible_for_retry":true}`, "", ""},
		{`{"data":{}}`, "topic", "topic is required"},
		{`{"topic":"  ","data":{}}`, "topic", "topic is required"},
		{`{"topic":"t"}`, "data", "data must be a JSON object"},
		{`{"topic":"t","data":[1]}`, "data", "data must be a JSON object"},
		{`{"topic":"t","data":{},"id":""}`, "id", "must not be empty"},
		{`{"topic":"t","data":{},"time":"yesterday"}`, "time", "RFC 3339"},
		{`{"topic":"t","data":{},"metadata":{"k":1}}`, "", "Invalid publish request"},
		{`{"topic":"t","data":{},"extra":1}`, "extra", "Unknown field"},
		{`[]`, "", "must be a JSON object"},
	}
	for _, tt := range tests {
		m, err := store.ParsePublish([]byte(tt.body), received)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.body, err)
				continue
			}
			if m.Kind != store.KindPublish || m.Type != store.TypePublish || m.ID == "" {
				t.Errorf("%s: message %+v", tt.body, m)
			}
			continue
		}
		if store.ErrorField(err) != tt.field || !strings.Contains(store.ErrorMessage(err), tt.want) {
			t.Errorf("%s: err = %v (field %q), want field %q mentioning %q", tt.body, err, store.ErrorField(err), tt.field, tt.want)
		}
	}
	m, err := store.ParsePublish([]byte(`{"id":"evt-1","topic":"user.created","data":{"n":1},"metadata":{"k":"v"},"time":"2026-01-02T03:04:05Z"}`), received)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, m.Body)
	if got["id"] != "evt-1" || got["topic"] != "user.created" || got["time"] != "2026-01-02T03:04:05Z" || got["metadata"].(map[string]any)["k"] != "v" {
		t.Errorf("stored publish event = %v", got)
	}
	if m.Timestamp != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) || m.Name != "user.created" {
		t.Errorf("Timestamp %v Name %q", m.Timestamp, m.Name)
	}
}

// FuzzParseSegment feeds arbitrary bodies to the request decoder: it must
// never panic, must answer every body with messages or an EINVALID error, and
// every message it accepts must be a JSON object with the fields it promises.
//
//fuzz:budget 150000x
func FuzzParseSegment(f *testing.F) {
	for _, seed := range []string{
		`{"batch":[{"type":"track","userId":"u","event":"E"}]}`,
		`{"batch":[{"type":"identify","anonymousId":"a","traits":{"x":1}},"x",null,1]}`,
		`{"batch":[],"context":{"library":{"name":"x"}},"sentAt":"2026-01-01T00:00:00Z"}`,
		`{"userId":"u","event":"E","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"userId":1.5e300,"event":"E","originalTimestamp":"2026-01-01T00:00:00Z","sentAt":"bad"}`,
		`{"batch":[{"type":"track","userId":"u","event":"E","messageId":7}]}`,
		`{`, `[]`, `null`, `""`, `{"batch":null}`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		endpoint := "track"
		if batch {
			endpoint = "batch"
		}
		req, err := store.ParseSegment(body, endpoint, received)
		if err != nil {
			var e *store.Error
			if !errors.As(err, &e) || e.Code != store.EINVALID || e.Message == "" {
				t.Fatalf("error %v is not an EINVALID store.Error", err)
			}
			return
		}
		for _, m := range req.Messages {
			var obj map[string]any
			if err := json.Unmarshal(m.Body, &obj); err != nil {
				t.Fatalf("stored body is not a JSON object: %v", err)
			}
			if obj["messageId"] != m.ID || m.ID == "" || obj["type"] != m.Type || obj["receivedAt"] == nil {
				t.Fatalf("stored body %s does not match message %+v", m.Body, m)
			}
			if len(m.Body) > 2*store.MaxBatchBytes {
				t.Fatalf("stored body of %d bytes", len(m.Body))
			}
		}
	})
}
