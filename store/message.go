package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the ingestion APIs, on decompressed bytes.
const (
	MaxMessageBytes = 32 << 10  // a single call, and each message of a batch
	MaxBatchBytes   = 500 << 10 // a batch request
	MaxBatchEvents  = 2500
)

// Kinds of stored events.
const (
	KindSegment = "segment"
	KindPublish = "publish"
)

// TypePublish is the stored type of publish-API events.
const TypePublish = "publish"

// SegmentTypes are the Segment call types, in the order of Segment's spec.
var SegmentTypes = []string{"identify", "track", "page", "screen", "group", "alias"}

func isSegmentType(t string) bool {
	for _, s := range SegmentTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Drop reasons: why a message inside an accepted batch was not stored.
const (
	DropNotObject       = "not_object"
	DropUnknownType     = "unknown_type"
	DropMissingUser     = "missing_user"
	DropMissingEvent    = "missing_event"
	DropMissingGroupID  = "missing_group_id"
	DropMissingPrevious = "missing_previous_id"
	DropBadField        = "bad_field"
)

// DropReasonText explains a drop reason to users.
var DropReasonText = map[string]string{
	DropNotObject:       "the message is not a JSON object",
	DropUnknownType:     "type is missing or not one of identify, track, page, screen, group, alias",
	DropMissingUser:     "neither userId nor anonymousId is set",
	DropMissingEvent:    "a track call without event",
	DropMissingGroupID:  "a group call without groupId",
	DropMissingPrevious: "an alias call without previousId",
	DropBadField:        "a field has the wrong JSON type",
}

// Message is an accepted message, normalized and ready to store.
type Message struct {
	ID        string // messageId (Segment) or id (publish)
	Kind      string
	Type      string
	Name      string // track event, page/screen name, or publish topic
	Timestamp time.Time
	Body      []byte // the normalized message, JSON
}

// Drop is a message refused inside an accepted batch.
type Drop struct {
	Reason  string
	Example string // a prefix of the refused message, for the dashboard
}

// SegmentRequest is a decoded request of the Segment-compatible API.
type SegmentRequest struct {
	Messages []*Message
	Drops    []Drop
	// WriteKey is the "writeKey" of the body, for clients that send it there.
	WriteKey string
}

// jsonTime is how s3relay writes times into messages: UTC, milliseconds.
const jsonTime = "2006-01-02T15:04:05.000Z"

// ParseSegment decodes the body of a Segment API call. endpoint is the call
// type of the route ("track", ...) or "batch". A malformed request, or a
// single call that is not valid, is an EINVALID error; in a batch, invalid
// messages are returned as drops and the others are accepted.
func ParseSegment(body []byte, endpoint string, receivedAt time.Time) (*SegmentRequest, error) {
	if endpoint != "batch" {
		if len(body) > MaxMessageBytes {
			return nil, Errorf(EINVALID, "The message is %d bytes; a single call may be at most %d bytes.", len(body), MaxMessageBytes)
		}
		msg, err := decodeObject(body, "request body")
		if err != nil {
			return nil, err
		}
		req := &SegmentRequest{}
		req.WriteKey, _ = msg["writeKey"].(string)
		msg["type"] = endpoint
		m, reason, detail := normalizeSegment(msg, nil, receivedAt)
		if reason != "" {
			return nil, Errorf(EINVALID, "Invalid %s call: %s.", endpoint, detail)
		}
		req.Messages = []*Message{m}
		return req, nil
	}

	if len(body) > MaxBatchBytes {
		return nil, Errorf(EINVALID, "The batch is %d bytes; at most %d are allowed.", len(body), MaxBatchBytes)
	}
	// The envelope is decoded with its messages left raw, so each message's
	// size is the size it was sent with, and each is decoded once.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		if _, derr := decodeObject(body, "request body"); derr != nil {
			return nil, derr
		}
		return nil, Errorf(EINVALID, "The request body is not a valid batch: %s.", jsonErrorText(err))
	}
	if top == nil {
		return nil, Errorf(EINVALID, "The request body must be a JSON object.")
	}
	req := &SegmentRequest{}
	var env envelope
	for name, dst := range map[string]any{"writeKey": &req.WriteKey, "context": &env.context, "integrations": &env.integrations, "sentAt": &env.sentAt} {
		if raw, ok := top[name]; ok {
			if err := decodeInto(raw, dst); err != nil {
				return nil, FieldErrorf(name, "%s has the wrong JSON type.", name)
			}
		}
	}
	raw, ok := top["batch"]
	if !ok {
		return nil, FieldErrorf("batch", "A batch request needs a \"batch\" array.")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, FieldErrorf("batch", "\"batch\" must be an array of messages.")
	}
	if len(items) > MaxBatchEvents {
		return nil, FieldErrorf("batch", "The batch has %d messages; at most %d are allowed.", len(items), MaxBatchEvents)
	}
	for i, it := range items {
		if len(it) > MaxMessageBytes {
			return nil, FieldErrorf(fmt.Sprintf("batch[%d]", i), "Message %d is %d bytes; each message may be at most %d bytes.", i, len(it), MaxMessageBytes)
		}
	}
	for _, it := range items {
		var v any
		if err := decodeInto(it, &v); err != nil {
			return nil, Errorf(EINVALID, "The request body is not valid JSON: %s.", jsonErrorText(err))
		}
		obj, ok := v.(map[string]any)
		if !ok {
			req.Drops = append(req.Drops, Drop{Reason: DropNotObject, Example: example(v)})
			continue
		}
		m, reason, _ := normalizeSegment(obj, &env, receivedAt)
		if reason != "" {
			req.Drops = append(req.Drops, Drop{Reason: reason, Example: example(obj)})
			continue
		}
		req.Messages = append(req.Messages, m)
	}
	return req, nil
}

// decodeInto decodes raw JSON keeping numbers exactly as written.
func decodeInto(raw json.RawMessage, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(dst)
}

type envelope struct {
	context, integrations map[string]any
	sentAt                any
}

// decodeObject decodes a JSON object, keeping numbers exactly as written.
func decodeObject(body []byte, what string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Errorf(EINVALID, "The %s is not valid JSON: %s.", what, jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(EINVALID, "The %s has data after its JSON value.", what)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(EINVALID, "The %s must be a JSON object.", what)
	}
	return obj, nil
}

func jsonErrorText(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "it ends too early"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func objectOrNil(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// normalizeSegment checks one message and builds what is stored. It returns
// a drop reason and its detail when the message is not valid.
func normalizeSegment(msg map[string]any, env *envelope, receivedAt time.Time) (*Message, string, string) {
	typ, _ := msg["type"].(string)
	if !isSegmentType(typ) {
		return nil, DropUnknownType, "type must be one of identify, track, page, screen, group, alias"
	}
	delete(msg, "writeKey") // a credential, never stored
	for _, f := range []string{"userId", "anonymousId", "messageId", "groupId", "previousId"} {
		if !idField(msg, f) {
			return nil, DropBadField, f + " must be a string or a number"
		}
	}
	if isEmpty(msg["userId"]) && isEmpty(msg["anonymousId"]) {
		return nil, DropMissingUser, "userId or anonymousId is required"
	}
	name := ""
	switch typ {
	case "track":
		ev, ok := msg["event"].(string)
		if !ok || strings.TrimSpace(ev) == "" {
			return nil, DropMissingEvent, "event is required"
		}
		name = ev
	case "page", "screen":
		name, _ = msg["name"].(string)
	case "group":
		if isEmpty(msg["groupId"]) {
			return nil, DropMissingGroupID, "groupId is required"
		}
	case "alias":
		if isEmpty(msg["previousId"]) {
			return nil, DropMissingPrevious, "previousId is required"
		}
	}
	for _, f := range []string{"properties", "traits", "context", "integrations"} {
		if v, ok := msg[f]; ok && v != nil {
			if _, isObj := v.(map[string]any); !isObj {
				return nil, DropBadField, f + " must be an object"
			}
		}
	}
	if env != nil {
		msg["context"] = mergeUnder(objectOrNil(msg["context"]), env.context)
		msg["integrations"] = mergeUnder(objectOrNil(msg["integrations"]), env.integrations)
		if _, ok := msg["sentAt"]; !ok && env.sentAt != nil {
			msg["sentAt"] = env.sentAt
		}
		if msg["context"] == nil {
			delete(msg, "context")
		}
		if msg["integrations"] == nil {
			delete(msg, "integrations")
		}
	}
	id, _ := msg["messageId"].(string)
	if id == "" {
		id = newMessageID()
		msg["messageId"] = id
	}
	ts := EventTimestamp(msg, receivedAt)
	msg["receivedAt"] = receivedAt.UTC().Format(jsonTime)
	msg["timestamp"] = ts.Format(jsonTime)
	body, err := marshal(msg)
	if err != nil {
		return nil, DropBadField, err.Error()
	}
	return &Message{ID: id, Kind: KindSegment, Type: typ, Name: name, Timestamp: ts, Body: body}, "", ""
}

// idField checks that an identifier is a string, a number (stored as its
// text, as Segment does) or absent.
func idField(msg map[string]any, f string) bool {
	switch v := msg[f].(type) {
	case nil, string:
		return true
	case json.Number:
		msg[f] = v.String()
		return true
	}
	return false
}

func isEmpty(v any) bool {
	s, ok := v.(string)
	return v == nil || (ok && strings.TrimSpace(s) == "")
}

// mergeUnder returns own with the envelope's keys added where own lacks them:
// the message's own keys win.
func mergeUnder(own, env map[string]any) map[string]any {
	if len(env) == 0 {
		return own
	}
	if own == nil {
		own = make(map[string]any, len(env))
	}
	for k, v := range env {
		if _, ok := own[k]; !ok {
			own[k] = v
		}
	}
	return own
}

// EventTimestamp applies Segment's timestamp rule: an explicit timestamp is
// kept; otherwise originalTimestamp corrected for the client's clock skew,
// receivedAt - (sentAt - originalTimestamp); otherwise receivedAt.
func EventTimestamp(msg map[string]any, receivedAt time.Time) time.Time {
	if t, ok := parseTime(msg["timestamp"]); ok {
		return t
	}
	if orig, ok := parseTime(msg["originalTimestamp"]); ok {
		if sent, ok := parseTime(msg["sentAt"]); ok {
			return receivedAt.Add(-sent.Sub(orig)).UTC()
		}
		return orig
	}
	return receivedAt.UTC()
}

func parseTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func newMessageID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand.Read never fails on supported platforms
	}
	return "s3r-" + hex.EncodeToString(b)
}

// marshal encodes JSON without escaping <, > and &: stored messages are data,
// and every page that shows them escapes on output.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// example is the start of a refused message, kept to help its sender.
func example(v any) string {
	b, _ := marshal(v)
	s := string(b)
	if len(s) > 300 {
		s = s[:300]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// PublishRequest is the body of the publish API.
type publishBody struct {
	ID       *string           `json:"id"`
	Topic    *string           `json:"topic"`
	Data     json.RawMessage   `json:"data"`
	Metadata map[string]string `json:"metadata"`
	Time     *string           `json:"time"`
	// Accepted for compatibility with Outpost clients, and not stored.
	TenantID         any `json:"tenant_id"`
	DestinationID    any `json:"destination_id"`
	EligibleForRetry any `json:"eligible_for_retry"`
}

// ParsePublish decodes and checks a publish-API body. Returns EINVALID with
// the field at fault.
func ParsePublish(body []byte, receivedAt time.Time) (*Message, error) {
	if len(body) > MaxMessageBytes {
		return nil, Errorf(EINVALID, "The event is %d bytes; at most %d are allowed.", len(body), MaxMessageBytes)
	}
	if _, err := decodeObject(body, "request body"); err != nil {
		return nil, err
	}
	var p publishBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return nil, FieldErrorf(f, "Unknown field %q.", f)
		}
		return nil, Errorf(EINVALID, "Invalid publish request: %s.", jsonErrorText(err))
	}
	if p.Topic == nil || strings.TrimSpace(*p.Topic) == "" {
		return nil, FieldErrorf("topic", "topic is required.")
	}
	data, err := decodeObject(p.Data, "data field")
	if err != nil || len(p.Data) == 0 {
		return nil, FieldErrorf("data", "data must be a JSON object.")
	}
	id := ""
	if p.ID != nil {
		id = strings.TrimSpace(*p.ID)
		if id == "" {
			return nil, FieldErrorf("id", "id must not be empty when given.")
		}
	} else {
		id = newMessageID()
	}
	ts := receivedAt.UTC()
	if p.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *p.Time)
		if err != nil {
			return nil, FieldErrorf("time", "time must be an RFC 3339 time, e.g. 2024-01-02T15:04:05Z.")
		}
		ts = t.UTC()
	}
	msg := map[string]any{
		"id":         id,
		"topic":      *p.Topic,
		"data":       data,
		"time":       ts.Format(time.RFC3339Nano),
		"receivedAt": receivedAt.UTC().Format(jsonTime),
	}
	if len(p.Metadata) > 0 {
		msg["metadata"] = p.Metadata
	}
	b, err := marshal(msg)
	if err != nil {
		return nil, err
	}
	return &Message{ID: id, Kind: KindPublish, Type: TypePublish, Name: *p.Topic, Timestamp: ts, Body: b}, nil
}
