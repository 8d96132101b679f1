package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
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
// type of the route ("track", ...) or "batch". The body's text is
// normalized (see NormalizeText) once its size is checked. A malformed
// request, or a single call that is not valid, is an EINVALID error; in a
// batch, invalid messages are returned as drops and the others are accepted.
func ParseSegment(body []byte, endpoint string, receivedAt time.Time) (*SegmentRequest, error) {
	if endpoint != "batch" {
		if len(body) > MaxMessageBytes {
			return nil, Errorf(EINVALID, "The message is %d bytes; a single call may be at most %d bytes.", len(body), MaxMessageBytes)
		}
		body = NormalizeText(body)
		msg, err := decodeRawObject(body, "request body")
		if err != nil {
			return nil, err
		}
		req := &SegmentRequest{}
		if raw, ok := msg["writeKey"]; ok {
			json.Unmarshal(raw, &req.WriteKey)
		}
		msg["type"] = rawString(endpoint)
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
	body = NormalizeText(body)
	if req, ok := parseBatchFast(body, receivedAt); ok {
		return req, nil
	}
	// The careful path: the envelope is decoded with its messages left raw,
	// so each message's size is the size it was sent with, and whatever is
	// wrong is named precisely. Only top-level fields are ever decoded:
	// values pass through byte for byte.
	top, err := decodeRawObject(body, "request body")
	if err != nil {
		return nil, err
	}
	req := &SegmentRequest{}
	var env envelope
	if raw, ok := top["writeKey"]; ok && json.Unmarshal(raw, &req.WriteKey) != nil {
		return nil, FieldErrorf("writeKey", "writeKey has the wrong JSON type.")
	}
	for _, name := range []string{"context", "integrations"} {
		raw, ok := top[name]
		if !ok || isNull(raw) {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, FieldErrorf(name, "%s has the wrong JSON type.", name)
		}
		if name == "context" {
			env.context = obj
		} else {
			env.integrations = obj
		}
	}
	if raw, ok := top["sentAt"]; ok && !isNull(raw) {
		env.sentAt = raw
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
		var obj map[string]json.RawMessage
		if firstByte(it) != '{' || json.Unmarshal(it, &obj) != nil {
			req.Drops = append(req.Drops, Drop{Reason: DropNotObject, Example: example(it)})
			continue
		}
		m, reason, _ := normalizeSegment(obj, &env, receivedAt)
		if reason != "" {
			req.Drops = append(req.Drops, Drop{Reason: reason, Example: example(it)})
			continue
		}
		req.Messages = append(req.Messages, m)
	}
	return req, nil
}

// parseBatchFast decodes a well-formed batch in one pass. It gives up (ok is
// false) on anything unusual, which the careful path then handles and names.
func parseBatchFast(body []byte, receivedAt time.Time) (*SegmentRequest, bool) {
	var top struct {
		Batch        []map[string]json.RawMessage `json:"batch"`
		Context      map[string]json.RawMessage   `json:"context"`
		Integrations map[string]json.RawMessage   `json:"integrations"`
		SentAt       json.RawMessage              `json:"sentAt"`
		WriteKey     *string                      `json:"writeKey"`
	}
	// goccy/go-json decodes like encoding/json, about twice as fast; anything
	// it refuses goes down the careful path, which explains in encoding/json's
	// words.
	// encoding/json's validator first: values are stored as they are, so the
	// standard library, not a faster decoder, decides what is valid JSON.
	if !json.Valid(body) || gojson.Unmarshal(body, &top) != nil || top.Batch == nil || len(top.Batch) > MaxBatchEvents {
		return nil, false
	}
	for _, msg := range top.Batch {
		// The message's size as sent, but for white space between its fields.
		size := 1
		for k, v := range msg {
			size += len(k) + len(v) + 4
		}
		if msg == nil || size > MaxMessageBytes {
			return nil, false
		}
	}
	req := &SegmentRequest{}
	if top.WriteKey != nil {
		req.WriteKey = *top.WriteKey
	}
	env := envelope{context: top.Context, integrations: top.Integrations}
	if !isNull(top.SentAt) {
		env.sentAt = top.SentAt
	}
	for _, msg := range top.Batch {
		m, reason, _ := normalizeSegment(msg, &env, receivedAt)
		if reason != "" {
			req.Drops = append(req.Drops, Drop{Reason: reason, Example: example(encodeRawObject(msg))})
			continue
		}
		req.Messages = append(req.Messages, m)
	}
	return req, true
}

// envelope is what a batch shares with its messages.
type envelope struct {
	context, integrations map[string]json.RawMessage
	sentAt                json.RawMessage
	// Encoded once per batch: the envelope's context and integrations for
	// messages that have none of their own, and the receipt time.
	contextAlone, integrationsAlone, receivedAt json.RawMessage
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

// decodeRawObject decodes the top level of a JSON object; its values stay
// raw JSON.
func decodeRawObject(body []byte, what string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		// The full decoder explains what is wrong in the user's terms.
		if _, derr := decodeObject(body, what); derr != nil {
			return nil, derr
		}
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

// firstByte is the first non-space byte of a JSON text.
func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func isNull(raw json.RawMessage) bool { return firstByte(raw) == 'n' || len(raw) == 0 }

func rawString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// stringField reads a string field; ok is false when it is present with
// another JSON type.
func stringField(msg map[string]json.RawMessage, f string) (string, bool) {
	raw, present := msg[f]
	if !present || isNull(raw) {
		return "", true
	}
	return unquote(raw)
}

// unquote reads a JSON string. Most strings have no escapes and are taken as
// they are (the decoder that produced raw validated it); others go through
// encoding/json.
func unquote(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// normalizeSegment checks one message and builds what is stored. It returns
// a drop reason and its detail when the message is not valid. Only top-level
// fields are decoded; everything else is stored exactly as it was sent.
func normalizeSegment(msg map[string]json.RawMessage, env *envelope, receivedAt time.Time) (*Message, string, string) {
	typ, _ := stringField(msg, "type")
	if !isSegmentType(typ) {
		return nil, DropUnknownType, "type must be one of identify, track, page, screen, group, alias"
	}
	delete(msg, "writeKey") // a credential, never stored
	var ids [len(idFields)]string
	for i, f := range idFields {
		v, ok := idField(msg, f)
		if !ok {
			return nil, DropBadField, f + " must be a string or a number"
		}
		ids[i] = v
	}
	userID, anonymousID, messageID, groupID, previousID := ids[0], ids[1], ids[2], ids[3], ids[4]
	if strings.TrimSpace(userID) == "" && strings.TrimSpace(anonymousID) == "" {
		return nil, DropMissingUser, "userId or anonymousId is required"
	}
	name := ""
	switch typ {
	case "track":
		ev, ok := stringField(msg, "event")
		if !ok || strings.TrimSpace(ev) == "" {
			return nil, DropMissingEvent, "event is required"
		}
		name = ev
	case "page", "screen":
		n, ok := stringField(msg, "name")
		if !ok {
			return nil, DropBadField, "name must be a string"
		}
		name = n
	case "group":
		if strings.TrimSpace(groupID) == "" {
			return nil, DropMissingGroupID, "groupId is required"
		}
	case "alias":
		if strings.TrimSpace(previousID) == "" {
			return nil, DropMissingPrevious, "previousId is required"
		}
	}
	for _, f := range []string{"properties", "traits", "context", "integrations"} {
		if raw, ok := msg[f]; ok && !isNull(raw) && firstByte(raw) != '{' {
			return nil, DropBadField, f + " must be an object"
		}
	}
	if env != nil {
		if err := mergeEnvelope(msg, "context", env.context, &env.contextAlone); err != nil {
			return nil, DropBadField, "context must be an object"
		}
		if err := mergeEnvelope(msg, "integrations", env.integrations, &env.integrationsAlone); err != nil {
			return nil, DropBadField, "integrations must be an object"
		}
		if raw, ok := msg["sentAt"]; (!ok || isNull(raw)) && env.sentAt != nil {
			msg["sentAt"] = env.sentAt
		}
	}
	id := messageID
	if id == "" {
		id = newMessageID()
		msg["messageId"] = rawString(id)
	}
	ts := eventTimestamp(msg, receivedAt)
	if env != nil {
		if env.receivedAt == nil {
			env.receivedAt = timeString(receivedAt)
		}
		msg["receivedAt"] = env.receivedAt
	} else {
		msg["receivedAt"] = timeString(receivedAt)
	}
	if ts.Equal(receivedAt) {
		// No time of its own: the timestamp is the receipt time.
		msg["timestamp"] = msg["receivedAt"]
	} else {
		msg["timestamp"] = timeString(ts)
	}
	return &Message{ID: id, Kind: KindSegment, Type: typ, Name: name, Timestamp: ts, Body: encodeRawObject(msg)}, "", ""
}

// idFields are the identifiers of a Segment message.
var idFields = [...]string{"userId", "anonymousId", "messageId", "groupId", "previousId"}

// timeString is t as a JSON string in the stored time format.
func timeString(t time.Time) json.RawMessage {
	b := make([]byte, 0, len(jsonTime)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, jsonTime)
	return append(b, '"')
}

// mergeEnvelope puts the envelope's object env under the message's field f
// (see mergeUnder). A message without the field gets the envelope's object
// alone, encoded once per batch into *alone.
func mergeEnvelope(msg map[string]json.RawMessage, f string, env map[string]json.RawMessage, alone *json.RawMessage) error {
	if len(env) == 0 {
		return nil
	}
	own, ok := msg[f]
	if !ok || isNull(own) {
		if *alone == nil {
			*alone = encodeRawObject(env)
		}
		msg[f] = *alone
		return nil
	}
	merged, err := mergeUnder(own, env)
	if err != nil {
		return err
	}
	msg[f] = merged
	return nil
}

// idField reads an identifier: a string, or a number, which is stored as its
// text, as Segment does. ok is false for other JSON types.
func idField(msg map[string]json.RawMessage, f string) (string, bool) {
	raw, present := msg[f]
	if !present || isNull(raw) {
		return "", true
	}
	switch c := firstByte(raw); {
	case c == '"':
		return unquote(raw)
	case c == '-' || (c >= '0' && c <= '9'):
		text := strings.TrimSpace(string(raw))
		msg[f] = rawString(text)
		return text, true
	}
	return "", false
}

// mergeUnder returns own with the envelope's keys added where own lacks them:
// the message's own keys win. It returns nil when there is nothing to store.
func mergeUnder(own json.RawMessage, env map[string]json.RawMessage) (json.RawMessage, error) {
	if len(env) == 0 {
		return nil, nil
	}
	obj := map[string]json.RawMessage{}
	if len(own) > 0 && !isNull(own) {
		// own was validated with the rest of the request.
		if err := gojson.Unmarshal(own, &obj); err != nil {
			return nil, err
		}
	}
	for k, v := range env {
		if _, ok := obj[k]; !ok {
			obj[k] = v
		}
	}
	return encodeRawObject(obj), nil
}

// encodeRawObject writes an object of raw values, keys sorted. The values
// come from a decoder that validated them, so they are written as they are.
func encodeRawObject(obj map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(obj))
	size := 2
	for k, v := range obj {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, bytes.TrimSpace(obj[k])...)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does without HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, _ := marshal(s)
	return append(b, enc...)
}

// eventTimestamp applies Segment's timestamp rule: an explicit timestamp is
// kept; otherwise originalTimestamp corrected for the client's clock skew,
// receivedAt - (sentAt - originalTimestamp); otherwise receivedAt.
func eventTimestamp(msg map[string]json.RawMessage, receivedAt time.Time) time.Time {
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

func parseTime(raw json.RawMessage) (time.Time, bool) {
	if firstByte(raw) != '"' {
		return time.Time{}, false
	}
	s, ok := unquote(raw)
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
func example(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
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

// ParsePublish decodes and checks a publish-API body, its text normalized
// (see NormalizeText). Returns EINVALID with the field at fault.
func ParsePublish(body []byte, receivedAt time.Time) (*Message, error) {
	if len(body) > MaxMessageBytes {
		return nil, Errorf(EINVALID, "The event is %d bytes; at most %d are allowed.", len(body), MaxMessageBytes)
	}
	body = NormalizeText(body)
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

// StoredForm writes a JSON object the way events are stored: its text
// normalized (see NormalizeText), its top-level keys sorted, its values
// exactly as they are. The object must be valid JSON.
func StoredForm(raw []byte) ([]byte, error) {
	raw = NormalizeText(raw)
	var obj map[string]json.RawMessage
	if err := gojson.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, Errorf(EINVALID, "The event must be a JSON object.")
	}
	return encodeRawObject(obj), nil
}
