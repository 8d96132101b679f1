package format

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultObjectKeyTemplate is s3relay's default key for the json format:
// the event time in UTC, fixed-width and without colons
// (2024-01-02T03-04-05.600Z, so that keys list in time order), "_", the
// event id, ".json".
const DefaultObjectKeyTemplate = `join('', [time.key, '_', metadata."event-id", '.json'])`

// OutpostObjectKeyTemplate is Outpost's default key template: the event
// time in RFC 3339 with nanoseconds, trailing zeros trimmed
// (2024-01-02T03:04:05.6Z), "_", the event id, ".json". Set it as the key
// template to get Outpost's exact keys.
const OutpostObjectKeyTemplate = `join('', [time.rfc3339_nano, '_', metadata."event-id", '.json'])`

// Names of the S3 user metadata that the json format sets on every object.
const (
	MetaEventID        = "event-id"
	MetaTopic          = "topic"
	MetaTimestamp      = "timestamp"
	MetaTimestampMS    = "timestamp-ms"
	MetaEventTimestamp = "event-timestamp"
)

// systemMetadata are those names in the order they keep their room under
// S3's 2 KB limit.
var systemMetadata = []string{MetaEventID, MetaTopic, MetaTimestamp, MetaTimestampMS, MetaEventTimestamp}

// keyTimeLayout is the time.key field of json key templates.
const keyTimeLayout = "2006-01-02T15-04-05.000Z"

// maxMetadataBytes is S3's limit on user metadata: keys plus values.
const maxMetadataBytes = 2048

// Object is one S3 object of the json format.
type Object struct {
	Key             string
	Body            []byte
	ContentType     string
	ContentEncoding string
	// Metadata is the S3 user metadata (sent as x-amz-meta-<name>): names
	// lowercased, values outside printable ASCII RFC 2047 encoded.
	Metadata map[string]string
	// DroppedMetadata lists the metadata names left out, sorted: names with
	// characters other than a-z, 0-9, '-', '_' and '.', and entries past
	// S3's 2 KB limit.
	DroppedMetadata []string
	// KeyChanges describe the values from the event that the key holds
	// escaped (see SafeKeyComponent), sorted, for the preview.
	KeyChanges []string
}

func (f *Format) compileObject() error {
	src := f.spec.KeyTemplate
	if strings.TrimSpace(src) == "" {
		src = DefaultObjectKeyTemplate
	}
	e, err := compileJMESPath(src)
	if err != nil {
		return fieldErr("key_template", "%s", err.Error())
	}
	f.object = e
	prefix, err := normalizeFolder(f.spec.PathPrefix)
	if err != nil {
		return fieldErr("path_prefix", "%s", err.Error())
	}
	f.spec.PathPrefix = prefix
	folder, err := normalizeFolder(f.spec.Folder)
	if err != nil {
		return fieldErr("folder", "%s", err.Error())
	}
	f.spec.Folder = folder
	return nil
}

// Object builds the json format's object for one event, Outpost-style. The
// body is the event's "data" when it has one (publish API), else the whole
// event, as compact JSON. The metadata holds, from lowest to highest
// priority as Outpost merges them: s3relay's own entries, "event-id" (the
// event's "id", else "messageId"), "topic" (its "topic", else "event", else
// "type"), "timestamp" (now, the delivery's time, in RFC 3339 UTC to the
// second), "timestamp-ms" (now in Unix milliseconds) and "event-timestamp"
// (the event's time, in RFC 3339 UTC with milliseconds); then the spec's
// DeliveryMetadata; then the event's "metadata" object. The key is the path
// prefix, the folder and the key template's result over {"data",
// "metadata", "time"}; time describes the event's "time", else
// "timestamp", else "receivedAt", else now. The strings of data and
// metadata reach the template through SafeKeyComponent.
func (f *Format) Object(event map[string]any, now time.Time) (Object, error) {
	if f.spec.Format != JSON {
		return Object{}, errors.New("only the json format writes one object per event")
	}
	data, ok := event["data"]
	if !ok {
		data = event
	}
	w := newJSONWriter()
	body, err := w.append(nil, data)
	if err != nil {
		return Object{}, err
	}
	at := eventTime(event, now)
	meta := map[string]string{
		MetaEventID:        firstText(event, "id", "messageId"),
		MetaTopic:          firstText(event, "topic", "event", "type"),
		MetaTimestamp:      now.UTC().Format(time.RFC3339),
		MetaTimestampMS:    strconv.FormatInt(now.UnixMilli(), 10),
		MetaEventTimestamp: at.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	// The times are s3relay's own text, not the event's: the key template
	// sees them as they are, unless other metadata replaced them.
	own := map[string]string{MetaTimestamp: meta[MetaTimestamp], MetaTimestampMS: meta[MetaTimestampMS],
		MetaEventTimestamp: meta[MetaEventTimestamp]}
	for k, v := range f.spec.DeliveryMetadata {
		meta[k] = v
	}
	if m, ok := event["metadata"].(map[string]any); ok {
		for k, v := range m {
			s, err := text(v)
			if err != nil {
				return Object{}, fmt.Errorf("metadata %q: %w", k, err)
			}
			meta[k] = s
		}
	}
	key, changes, err := f.objectKey(data, meta, own, at)
	if err != nil {
		return Object{}, err
	}
	obj := Object{Key: key, Body: body, ContentType: f.ContentType(), ContentEncoding: f.ContentEncoding(), KeyChanges: changes}
	obj.Metadata, obj.DroppedMetadata = s3Metadata(meta, f.spec.DeliveryMetadata)
	if f.spec.Compression == Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return Object{}, fmt.Errorf("gzip body: %w", err)
		}
		if err := zw.Close(); err != nil {
			return Object{}, fmt.Errorf("gzip body: %w", err)
		}
		obj.Body = buf.Bytes()
	}
	return obj, nil
}

// objectKey evaluates the key template. Strings from the event are escaped
// before the template sees them, so that whatever it does with them (join,
// slice, compare) it only ever puts safe text into the key.
func (f *Format) objectKey(data any, meta, own map[string]string, t time.Time) (string, []string, error) {
	esc := keyEscaper{}
	metaAny := make(map[string]any, len(meta))
	for k, v := range meta {
		if o, ok := own[k]; ok && o == v {
			metaAny[k] = v
			continue
		}
		metaAny[k] = esc.text(v)
	}
	t = t.UTC()
	input := map[string]any{
		"data":     esc.value(data),
		"metadata": metaAny,
		"time": map[string]any{
			"year":         fmt.Sprintf("%04d", t.Year()),
			"month":        fmt.Sprintf("%02d", int(t.Month())),
			"day":          fmt.Sprintf("%02d", t.Day()),
			"hour":         fmt.Sprintf("%02d", t.Hour()),
			"minute":       fmt.Sprintf("%02d", t.Minute()),
			"second":       fmt.Sprintf("%02d", t.Second()),
			"date":         t.Format("2006-01-02"),
			"datetime":     t.Format("2006-01-02T15:04:05"),
			"unix":         strconv.FormatInt(t.Unix(), 10),
			"unix_ms":      strconv.FormatInt(t.UnixMilli(), 10),
			"key":          t.Format(keyTimeLayout),
			"rfc3339":      t.Format(time.RFC3339),
			"rfc3339_nano": t.Format(time.RFC3339Nano),
		},
	}
	v, err := f.object.search(&doc{raw: input})
	if err != nil {
		return "", nil, fmt.Errorf("key template: %w", err)
	}
	switch v.(type) {
	case nil:
		return "", nil, errors.New("key template produced no value")
	case map[string]any, []any:
		return "", nil, errors.New("key template produced an object or array, not a string")
	}
	s, err := text(v)
	if err != nil {
		return "", nil, fmt.Errorf("key template: %w", err)
	}
	if s == "" {
		return "", nil, errors.New("key template produced an empty string")
	}
	key := f.spec.PathPrefix + f.spec.Folder + s
	if err := ValidateKey(key); err != nil {
		return "", nil, err
	}
	return key, esc.changesIn(s), nil
}

// keyEscaper escapes the strings of an event for the key template and
// remembers what it changed.
type keyEscaper map[string]string // escaped -> original

func (e keyEscaper) text(s string) string {
	out := SafeKeyComponent(s)
	if out != s {
		e[out] = s
	}
	return out
}

// value copies v with its strings escaped; object keys stay as they are.
func (e keyEscaper) value(v any) any {
	switch x := v.(type) {
	case string:
		return e.text(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = e.value(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = e.value(val)
		}
		return out
	}
	return v
}

// changesIn describes the escaped values that the key holds.
func (e keyEscaper) changesIn(key string) []string {
	var out []string
	for escaped, original := range e {
		if strings.Contains(key, escaped) {
			out = append(out, fmt.Sprintf("%q from the event is written as %q", original, escaped))
		}
	}
	sort.Strings(out)
	return out
}

func firstText(event map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := event[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func eventTime(event map[string]any, now time.Time) time.Time {
	for _, n := range []string{"time", "timestamp", "receivedAt"} {
		s, _ := event[n].(string)
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return now
}

// s3Metadata turns metadata into what S3 stores: lowercased names of
// a-z, 0-9, '-', '_' and '.', RFC 2047 values, at most 2 KB in all. The
// system entries come first, then the delivery metadata's names, so the
// limit drops event metadata before them.
func s3Metadata(meta, delivery map[string]string) (map[string]string, []string) {
	names := make([]string, 0, len(meta))
	for k := range meta {
		names = append(names, k)
	}
	rank := func(k string) int {
		for i, n := range systemMetadata {
			if k == n {
				return i
			}
		}
		if _, ok := delivery[k]; ok {
			return len(systemMetadata)
		}
		return len(systemMetadata) + 1
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank(names[i]), rank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	out := map[string]string{}
	var dropped []string
	size := 0
	for _, k := range names {
		name := strings.ToLower(k)
		if _, dup := out[name]; dup || !validMetadataName(name) {
			dropped = append(dropped, k)
			continue
		}
		value := mime.QEncoding.Encode("utf-8", meta[k])
		if size+len(name)+len(value) > maxMetadataBytes {
			dropped = append(dropped, k)
			continue
		}
		size += len(name) + len(value)
		out[name] = value
	}
	sort.Strings(dropped)
	return out, dropped
}

func validMetadataName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
