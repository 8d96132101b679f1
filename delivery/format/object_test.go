package format_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
)

var objectNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) // Unix 1714979289

// objectNowMeta is the metadata s3relay sets from objectNow, the delivery's
// time.
const (
	objectNowRFC3339 = "2024-05-06T07:08:09Z"
	objectNowMS      = "1714979289000"
)

const publishEvent = `{"id":"evt_1","topic":"user.created","time":"2024-01-02T03:04:05.5Z",
	"data":{"user_id":"u1","n":12345678901234567890,"html":"<b>"},
	"metadata":{"Region":"eu","bad key":"x","note":"héllo","count":3}}`

func TestObject(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON})
	got, err := f.Object(MustEvent(t, publishEvent), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	want := format.Object{
		// s3relay's default: the event's UTC time, fixed width, no colons.
		Key:         "2024-01-02T03-04-05.500Z_evt_1.json",
		Body:        []byte(`{"html":"<b>","n":12345678901234567890,"user_id":"u1"}`),
		ContentType: "application/json",
		Metadata: map[string]string{
			"event-id":        "evt_1",
			"topic":           "user.created",
			"timestamp":       objectNowRFC3339,
			"timestamp-ms":    objectNowMS,
			"event-timestamp": "2024-01-02T03:04:05.500Z",
			"region":          "eu",
			"note":            "=?utf-8?q?h=C3=A9llo?=",
			"count":           "3",
		},
		DroppedMetadata: []string{"bad key"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestObjectSegmentEvent(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, PathPrefix: "/raw/"})
	ev := `{"type":"track","event":"Order Completed","messageId":"m-1","timestamp":"2024-01-02T03:04:05Z","properties":{"total":1.50}}`
	got, err := f.Object(MustEvent(t, ev), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	want := format.Object{
		Key:         "raw/2024-01-02T03-04-05.000Z_m-1.json",
		Body:        []byte(`{"event":"Order Completed","messageId":"m-1","properties":{"total":1.50},"timestamp":"2024-01-02T03:04:05Z","type":"track"}`),
		ContentType: "application/json",
		Metadata: map[string]string{"event-id": "m-1", "topic": "Order Completed", "timestamp": objectNowRFC3339,
			"timestamp-ms": objectNowMS, "event-timestamp": "2024-01-02T03:04:05.000Z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestObjectKeyTemplates(t *testing.T) {
	tests := []struct {
		name     string
		template string
		want     string
		wantErr  string
	}{
		{"topic and date", `join('/', [metadata.topic, time.date, metadata."event-id"])`, "user.created/2024-01-02/evt_1", ""},
		{"hive style", `join('', ['dt=', time.date, '/hour=', time.hour, '/', metadata."event-id", '.json'])`, "dt=2024-01-02/hour=03/evt_1.json", ""},
		{"time fields", `join('|', [time.year, time.month, time.day, time.hour, time.minute, time.second, time.datetime, time.unix, time.rfc3339])`,
			"2024|01|02|03|04|05|2024-01-02T03:04:05|1704164645|2024-01-02T03:04:05Z", ""},
		{"data field", `join('/', ['users', data.user_id])`, "users/u1", ""},
		{"metadata from the event", `join('/', [metadata.Region, metadata."event-id"])`, "eu/evt_1", ""},
		{"number result keeps its digits", `data.n`, "12345678901234567890", ""},
		{"boolean result", "`true`", "true", ""},
		{"missing value", `data.nonexistent`, "", "no value"},
		{"missing metadata", `metadata.empty`, "", "no value"},
		{"object result", `data`, "", "object or array"},
		{"invalid key", `join('', ['/', metadata."event-id"])`, "", `starts with "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.JSON, KeyTemplate: tt.template})
			obj, err := f.Object(MustEvent(t, publishEvent), objectNow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got key %q, error %v; want an error containing %q", obj.Key, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Object: %v", err)
			}
			if obj.Key != tt.want {
				t.Errorf("got %q, want %q", obj.Key, tt.want)
			}
		})
	}
}

func TestObjectEmptyTemplateResult(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, KeyTemplate: "data.empty"})
	_, err := f.Object(MustEvent(t, `{"id":"e","data":{"empty":""}}`), objectNow)
	if err == nil || !strings.Contains(err.Error(), "empty string") {
		t.Errorf("got %v, want an empty string error", err)
	}
}

func TestObjectTimeFallsBackToNow(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON})
	obj, err := f.Object(MustEvent(t, `{"id":"e1","time":"not a time","data":{}}`), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	if want := "2024-05-06T07-08-09.000Z_e1.json"; obj.Key != want {
		t.Errorf("got %q, want %q", obj.Key, want)
	}
}

func TestObjectMetadataLimit(t *testing.T) {
	// 2 KB in all: the system entries fit, the 2,100-byte value does not,
	// the short one after it still does.
	ev := `{"id":"e","topic":"t","data":{},"metadata":{"big":"` + strings.Repeat("x", 2100) + `","small":"ok"}}`
	f := MustCompile(t, format.Spec{Format: format.JSON})
	obj, err := f.Object(MustEvent(t, ev), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	if want := []string{"big"}; !reflect.DeepEqual(obj.DroppedMetadata, want) {
		t.Errorf("dropped: got %v, want %v", obj.DroppedMetadata, want)
	}
	if got := obj.Metadata["small"]; got != "ok" {
		t.Errorf("small: got %q, want ok", got)
	}
}

func TestObjectMetadataOverridesAndNames(t *testing.T) {
	ev := `{"id":"e","topic":"t","data":{},"metadata":{"topic":"mine","Topic":"dup","new\nline":"v","ctl":"a\nb"}}`
	f := MustCompile(t, format.Spec{Format: format.JSON})
	obj, err := f.Object(MustEvent(t, ev), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	wantMeta := map[string]string{"event-id": "e", "topic": "mine", "timestamp": objectNowRFC3339, "timestamp-ms": objectNowMS,
		"event-timestamp": "2024-05-06T07:08:09.000Z", "ctl": "=?utf-8?q?a=0Ab?="}
	if !reflect.DeepEqual(obj.Metadata, wantMeta) {
		t.Errorf("metadata: got %v, want %v", obj.Metadata, wantMeta)
	}
	if want := []string{"Topic", "new\nline"}; !reflect.DeepEqual(obj.DroppedMetadata, want) {
		t.Errorf("dropped: got %q, want %q", obj.DroppedMetadata, want)
	}
}

func TestObjectGzip(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, Compression: format.Gzip})
	obj, err := f.Object(MustEvent(t, publishEvent), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	if got, want := MustGunzip(t, obj.Body), `{"html":"<b>","n":12345678901234567890,"user_id":"u1"}`; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
	if obj.ContentEncoding != "gzip" || obj.ContentType != "application/json" {
		t.Errorf("headers: got %q %q, want gzip application/json", obj.ContentEncoding, obj.ContentType)
	}
	if want := "2024-01-02T03-04-05.500Z_evt_1.json"; obj.Key != want {
		t.Errorf("key: got %q, want %q (gzip leaves template keys alone)", obj.Key, want)
	}
}

func TestObjectWrongFormat(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	if _, err := f.Object(MustEvent(t, publishEvent), objectNow); err == nil {
		t.Error("Object on jsonl: got nil error, want one")
	}
}

// A user who wants Outpost's exact keys writes Outpost's default template.
func TestObjectOutpostTemplate(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, KeyTemplate: format.OutpostObjectKeyTemplate})
	obj, err := f.Object(MustEvent(t, publishEvent), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	// Outpost's format test: time.RFC3339Nano of the event time, "_", the id.
	if want := "2024-01-02T03:04:05.5Z_evt_1.json"; obj.Key != want {
		t.Errorf("got %q, want %q", obj.Key, want)
	}
}

// The default keys list in time order: fixed width (Outpost's RFC 3339 nano
// trims zeros, so 05Z sorts after 05.1Z) and without colons.
func TestObjectDefaultKeyTimeOrder(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON})
	times := []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.05Z", "2024-01-02T03:04:05.1Z", "2024-01-02T03:04:05.6Z",
		"2024-01-02T03:04:06Z", "2024-01-02T13:04:06.999Z"}
	var keys []string
	for _, at := range times {
		obj, err := f.Object(MustEvent(t, `{"id":"e","time":"`+at+`","data":{}}`), objectNow)
		if err != nil {
			t.Fatalf("Object: %v", err)
		}
		if strings.Contains(obj.Key, ":") {
			t.Errorf("key %q has a colon", obj.Key)
		}
		keys = append(keys, obj.Key)
	}
	if !sort.StringsAreSorted(keys) {
		t.Errorf("keys of increasing times do not sort: %q", keys)
	}
	if want := "2024-01-02T03-04-05.600Z_e.json"; keys[3] != want {
		t.Errorf("got %q, want %q", keys[3], want)
	}
}

func TestObjectTimestamps(t *testing.T) {
	// Outpost's millisecond test: 1609459200.123456789.
	now := time.Unix(1609459200, 123456789)
	f := MustCompile(t, format.Spec{Format: format.JSON})
	obj, err := f.Object(MustEvent(t, `{"id":"e","time":"2020-12-31T23:59:58.5+01:00","data":{}}`), now)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	want := map[string]string{
		"timestamp":       "2021-01-01T00:00:00Z",     // the delivery's time
		"timestamp-ms":    "1609459200123",            // the same in Unix milliseconds
		"event-timestamp": "2020-12-31T22:59:58.500Z", // the event's own time, in UTC
	}
	for k, v := range want {
		if got := obj.Metadata[k]; got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
}

// Outpost merges metadata with priority system < delivery metadata < event
// metadata (its TestMakeMetadata_MergePriority).
func TestObjectDeliveryMetadata(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, DeliveryMetadata: map[string]string{
		"timestamp": "999", "timestamp-ms": "999999999999", "app-id": "my-app", "source": "outpost"}})
	ev := `{"id":"evt_123","topic":"user.created","data":{},"metadata":{"source":"user-service","user-id":"usr_456"}}`
	obj, err := f.Object(MustEvent(t, ev), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	want := map[string]string{
		"event-id": "evt_123", "topic": "user.created", "event-timestamp": "2024-05-06T07:08:09.000Z",
		"timestamp": "999", "timestamp-ms": "999999999999", // delivery metadata over the system's
		"app-id": "my-app", "source": "user-service", // the event's over the delivery metadata
		"user-id": "usr_456",
	}
	if !reflect.DeepEqual(obj.Metadata, want) {
		t.Errorf("got %v\nwant %v", obj.Metadata, want)
	}
}

// Past S3's 2 KB, the event's metadata goes before the destination's.
func TestObjectDeliveryMetadataKeepsRoom(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, DeliveryMetadata: map[string]string{"team": strings.Repeat("t", 1000)}})
	ev := `{"id":"e","topic":"t","data":{},"metadata":{"aaa":"` + strings.Repeat("x", 1000) + `"}}`
	obj, err := f.Object(MustEvent(t, ev), objectNow)
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	if want := []string{"aaa"}; !reflect.DeepEqual(obj.DroppedMetadata, want) {
		t.Errorf("dropped: got %v, want %v", obj.DroppedMetadata, want)
	}
	if len(obj.Metadata["team"]) != 1000 {
		t.Errorf("team: got %d bytes, want the destination's 1000", len(obj.Metadata["team"]))
	}
}

// The json format honours the mapping's folder, after the path prefix.
func TestObjectFolder(t *testing.T) {
	tests := []struct {
		spec format.Spec
		want string
	}{
		{format.Spec{Format: format.JSON, Folder: "events"}, "events/2024-01-02T03-04-05.500Z_evt_1.json"},
		{format.Spec{Format: format.JSON, Folder: "/events/outpost/", PathPrefix: "raw"}, "raw/events/outpost/2024-01-02T03-04-05.500Z_evt_1.json"},
		{format.Spec{Format: format.JSON, Folder: "events", KeyTemplate: `join('/', [metadata.topic, metadata."event-id"])`}, "events/user.created/evt_1"},
	}
	for _, tt := range tests {
		obj, err := MustCompile(t, tt.spec).Object(MustEvent(t, publishEvent), objectNow)
		if err != nil {
			t.Fatalf("Object: %v", err)
		}
		if obj.Key != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.spec, obj.Key, tt.want)
		}
	}
	if _, err := format.Compile(format.Spec{Format: format.JSON, Folder: "a//b"}); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("folder a//b: got %v, want an error on folder", err)
	}
}

// Text from the event reaches the key with characters outside
// A-Z a-z 0-9 . _ - as '_' and a hash of the original added; the preview
// hears what was changed.
func TestObjectKeyEscapes(t *testing.T) {
	tests := []struct {
		name     string
		template string
		event    string
		want     string
		changes  []string
	}{
		{"safe id kept", "", `{"id":"evt_1-A.b","time":"2024-01-02T03:04:05Z","data":{}}`,
			"2024-01-02T03-04-05.000Z_evt_1-A.b.json", nil},
		// The example.
		{"id with space, colon and plus", "", `{"id":"curlmess-pub 4:odd+id","time":"2024-01-02T03:04:05Z","data":{}}`,
			"2024-01-02T03-04-05.000Z_curlmess-pub_4_odd_id" + hash8("curlmess-pub 4:odd+id") + ".json",
			[]string{`"curlmess-pub 4:odd+id" from the event is written as "curlmess-pub_4_odd_id` + hash8("curlmess-pub 4:odd+id") + `"`}},
		{"slashes do not make folders", `join('/', ['users', data.user])`, `{"id":"e","data":{"user":"../../etc/passwd"}}`,
			"users/.._.._etc_passwd" + hash8("../../etc/passwd"),
			[]string{`"../../etc/passwd" from the event is written as ".._.._etc_passwd` + hash8("../../etc/passwd") + `"`}},
		{"dot segments", `join('/', [metadata."event-id", 'x'])`, `{"id":"..","data":{}}`, "__" + hash8("..") + "/x",
			[]string{`".." from the event is written as "__` + hash8("..") + `"`}},
		{"non-ASCII", `join('/', [metadata.topic, metadata."event-id"])`, `{"id":"e","topic":"café","data":{}}`,
			"caf_" + hash8("café") + "/e", []string{`"café" from the event is written as "caf_` + hash8("café") + `"`}},
		{"event metadata", `join('/', [metadata.region, metadata."event-id"])`, `{"id":"e","data":{},"metadata":{"region":"eu west"}}`,
			"eu_west" + hash8("eu west") + "/e", []string{`"eu west" from the event is written as "eu_west` + hash8("eu west") + `"`}},
		{"nested data", `join('/', [data.a[0].b, 'x'])`, `{"id":"e","data":{"a":[{"b":"p q"}]}}`,
			"p_q" + hash8("p q") + "/x", []string{`"p q" from the event is written as "p_q` + hash8("p q") + `"`}},
		{"only changes in the key are told", `metadata."event-id"`, `{"id":"e","topic":"a b","data":{"x":"y z"}}`, "e", nil},
		{"s3relay's own times are not escaped", `join('_', [metadata.timestamp, metadata."event-id"])`, `{"id":"e","data":{}}`,
			objectNowRFC3339 + "_e", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := MustCompile(t, format.Spec{Format: format.JSON, KeyTemplate: tt.template}).Object(MustEvent(t, tt.event), objectNow)
			if err != nil {
				t.Fatalf("Object: %v", err)
			}
			if obj.Key != tt.want {
				t.Errorf("key: got %q, want %q", obj.Key, tt.want)
			}
			if !reflect.DeepEqual(obj.KeyChanges, tt.changes) {
				t.Errorf("changes: got %q, want %q", obj.KeyChanges, tt.changes)
			}
		})
	}
}

// Event ids that escape alike still get different objects.
func TestObjectKeyEscapesNoCollision(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSON, KeyTemplate: `metadata."event-id"`})
	seen := map[string]string{}
	for _, id := range []string{"a b", "a+b", "a:b", "a_b", "a/b", "a\u00a0b", "a  b", "ab", "..", ".", "_", "__"} {
		obj, err := f.Object(map[string]any{"id": id, "data": map[string]any{}}, objectNow)
		if err != nil {
			t.Fatalf("Object(%q): %v", id, err)
		}
		if other, dup := seen[obj.Key]; dup {
			t.Errorf("ids %q and %q share the key %q", id, other, obj.Key)
		}
		seen[obj.Key] = id
		if w := format.KeyWarnings(obj.Key); w != nil {
			t.Errorf("id %q: key %q warns %q", id, obj.Key, w)
		}
	}
}

func TestSafeKeyComponent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"evt_1", "evt_1"},
		{"A-z.0_9", "A-z.0_9"},
		{"a b", "a_b" + hash8("a b")},
		{".", "_" + hash8(".")},
		{"...", "___" + hash8("...")},
		{"a.b", "a.b"},
		{"🎉", "_" + hash8("🎉")},
		{"a\xffb", "a_b" + hash8("a\xffb")},
	}
	for _, tt := range tests {
		if got := format.SafeKeyComponent(tt.in); got != tt.want {
			t.Errorf("SafeKeyComponent(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
