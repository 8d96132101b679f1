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

// DefaultObjectKeyTemplate is Outpost's default key for the json format:
// the event time in RFC 3339 with nanoseconds, "_", the event id, ".json".
const DefaultObjectKeyTemplate = `join('', [time.rfc3339_nano, '_', metadata."event-id", '.json'])`

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
	return nil
}

// Object builds the json format's object for one event, Outpost-style. The
// body is the event's "data" when it has one (publish API), else the whole
// event, as compact JSON. The metadata holds "event-id" (the event's "id",
// else "messageId"), "topic" (its "topic", else "event", else "type"),
// "timestamp" (now in Unix seconds) and then the event's "metadata" object,
// whose entries win on a clash. The key is the path prefix and the key
// template's result over {"data", "metadata", "time"}; time describes the
// event's "time", else "timestamp", else "receivedAt", else now.
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
	meta := map[string]string{
		"event-id":  firstText(event, "id", "messageId"),
		"topic":     firstText(event, "topic", "event", "type"),
		"timestamp": strconv.FormatInt(now.Unix(), 10),
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
	key, err := f.objectKey(data, meta, eventTime(event, now))
	if err != nil {
		return Object{}, err
	}
	obj := Object{Key: key, Body: body, ContentType: f.ContentType(), ContentEncoding: f.ContentEncoding()}
	obj.Metadata, obj.DroppedMetadata = s3Metadata(meta)
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

func (f *Format) objectKey(data any, meta map[string]string, t time.Time) (string, error) {
	metaAny := make(map[string]any, len(meta))
	for k, v := range meta {
		metaAny[k] = v
	}
	t = t.UTC()
	input := map[string]any{
		"data":     data,
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
			"rfc3339":      t.Format(time.RFC3339),
			"rfc3339_nano": t.Format(time.RFC3339Nano),
		},
	}
	v, err := f.object.search(&doc{raw: input})
	if err != nil {
		return "", fmt.Errorf("key template: %w", err)
	}
	switch v.(type) {
	case nil:
		return "", errors.New("key template produced no value")
	case map[string]any, []any:
		return "", errors.New("key template produced an object or array, not a string")
	}
	s, err := text(v)
	if err != nil {
		return "", fmt.Errorf("key template: %w", err)
	}
	if s == "" {
		return "", errors.New("key template produced an empty string")
	}
	key := f.spec.PathPrefix + s
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return key, nil
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
// system entries come first so the limit drops event metadata before them.
func s3Metadata(meta map[string]string) (map[string]string, []string) {
	names := make([]string, 0, len(meta))
	for k := range meta {
		names = append(names, k)
	}
	rank := func(k string) int {
		switch k {
		case "event-id":
			return 0
		case "topic":
			return 1
		case "timestamp":
			return 2
		}
		return 3
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
