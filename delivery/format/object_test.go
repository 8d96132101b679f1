package format_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
)

var objectNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) // Unix 1714979289

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
		// Outpost's default: RFC 3339 nano time of the event, "_", event id.
		Key:         "2024-01-02T03:04:05.5Z_evt_1.json",
		Body:        []byte(`{"html":"<b>","n":12345678901234567890,"user_id":"u1"}`),
		ContentType: "application/json",
		Metadata: map[string]string{
			"event-id":  "evt_1",
			"topic":     "user.created",
			"timestamp": "1714979289",
			"region":    "eu",
			"note":      "=?utf-8?q?h=C3=A9llo?=",
			"count":     "3",
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
		Key:         "raw/2024-01-02T03:04:05Z_m-1.json",
		Body:        []byte(`{"event":"Order Completed","messageId":"m-1","properties":{"total":1.50},"timestamp":"2024-01-02T03:04:05Z","type":"track"}`),
		ContentType: "application/json",
		Metadata:    map[string]string{"event-id": "m-1", "topic": "Order Completed", "timestamp": "1714979289"},
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
	if want := "2024-05-06T07:08:09Z_e1.json"; obj.Key != want {
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
	wantMeta := map[string]string{"event-id": "e", "topic": "mine", "timestamp": "1714979289", "ctl": "=?utf-8?q?a=0Ab?="}
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
	if want := "2024-01-02T03:04:05.5Z_evt_1.json"; obj.Key != want {
		t.Errorf("key: got %q, want %q (gzip leaves template keys alone)", obj.Key, want)
	}
}

func TestObjectWrongFormat(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	if _, err := f.Object(MustEvent(t, publishEvent), objectNow); err == nil {
		t.Error("Object on jsonl: got nil error, want one")
	}
}
