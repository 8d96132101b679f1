package match_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/s3relay/s3relay/delivery/match"
)

// MustParse parses src or fails the test.
func MustParse(tb testing.TB, src string) *match.Trigger {
	tb.Helper()
	t, err := match.Parse(src)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", src, err)
	}
	return t
}

// MustDecode decodes a JSON object as the engine does; with useNumber,
// numbers become json.Number instead of float64.
func MustDecode(tb testing.TB, src string, useNumber bool) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(src)))
	if useNumber {
		dec.UseNumber()
	}
	var event map[string]any
	if err := dec.Decode(&event); err != nil {
		tb.Fatalf("decode %s: %v", src, err)
	}
	return event
}

// orderEvent is a track call with values of every JSON kind.
const orderEvent = `{
  "type": "track",
  "event": "Order Completed",
  "userId": "u1",
  "anonymousId": null,
  "messageId": "m-1",
  "properties": {
    "total": 100,
    "price": "12.50",
    "count": "7",
    "zeros": "007",
    "exp": "1e3",
    "sloppy": "1.",
    "name": "Café ☕ crème",
    "tags": ["a", "b", 3, true, null],
    "vip": true,
    "off": false,
    "vipText": "true",
    "code": "123",
    "nested": {"deep": {"x": 1}},
    "empty": "",
    "nil": null,
    "products": [{"sku": "S1"}, {"sku": "S2"}],
    "first name": "Ann",
    "a.b": "dot",
    "big": 1e21,
    "neg": -3.5,
    "zero": 0,
    "obj": {}
  },
  "context": {"library": {"name": "analytics.js", "version": "1.0"}}
}`

// sampleEvents covers every call type, for checking that two triggers
// agree.
var sampleEvents = []string{
	orderEvent,
	`{"type": "identify", "userId": "u2", "traits": {"plan": "pro", "email": "a@b.co", "age": 42}}`,
	`{"type": "page", "name": "Home", "anonymousId": "a1", "properties": {"path": "/", "total": "100"}}`,
	`{"type": "screen", "name": "Cart", "properties": {"total": 99.5}}`,
	`{"type": "group", "userId": "u3", "traits": {"plan": "free"}}`,
	`{"type": "alias", "userId": "u4"}`,
	`{"topic": "order.created", "data": {"id": 1}}`,
	`{}`,
}
