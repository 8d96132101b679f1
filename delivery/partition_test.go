package delivery_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
)

// received is when the tests' events arrive: a fixed time, so that every
// partition is known in advance whatever the wall clock says.
var received = time.Date(2024, 5, 6, 10, 20, 0, 0, time.UTC)

// sendAt stores Segment messages received at the given time.
func (r *rig) sendAt(tb testing.TB, at time.Time, msgs ...string) {
	tb.Helper()
	req, err := store.ParseSegment([]byte(`{"batch":[`+strings.Join(msgs, ",")+`]}`), "batch", at)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.App.Append(context.Background(), r.Source.ID, at, req.Messages, nil); err != nil {
		tb.Fatal(err)
	}
}

// The partition of an event, as the preview (and test send) places it: its
// own timestamp's hour, or its receipt's when that is missing, unreadable,
// or out of the window.
func TestRenderPartitionTime(t *testing.T) {
	now := received
	m := &store.Mapping{Name: "m", Format: store.FormatJSONL, KeyPreset: "hive", Folder: "ev", Trigger: `type = "track" or topic = "user.created"`,
		PartitionTime: store.PartitionTimeEvent, PartitionWindowHours: 48}
	c, err := delivery.Compile(m, store.DestinationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event string
		want  string // dt=.../hour=..
	}{
		{"own timestamp", `{"type":"track","timestamp":"2024-05-06T07:59:59.999Z"}`, "dt=2024-05-06/hour=07"},
		{"own timestamp with an offset, read as UTC", `{"type":"track","timestamp":"2024-05-05T23:30:00-02:00"}`, "dt=2024-05-06/hour=01"},
		{"the day before, inside the window", `{"type":"track","timestamp":"2024-05-05T22:00:00Z"}`, "dt=2024-05-05/hour=22"},
		{"its receivedAt is the receipt", `{"type":"track","timestamp":"2024-05-01T03:00:00Z","receivedAt":"2024-05-01T05:00:00Z"}`, "dt=2024-05-01/hour=03"},
		{"older than the window: received hour", `{"type":"track","timestamp":"2024-05-01T03:00:00Z"}`, "dt=2024-05-06/hour=10"},
		{"out of the window before its receivedAt", `{"type":"track","timestamp":"2024-04-01T03:00:00Z","receivedAt":"2024-05-01T05:00:00Z"}`, "dt=2024-05-01/hour=05"},
		{"far in the future: received hour", `{"type":"track","timestamp":"2024-05-06T11:00:00Z"}`, "dt=2024-05-06/hour=10"},
		{"missing timestamp: received hour", `{"type":"track"}`, "dt=2024-05-06/hour=10"},
		{"unreadable timestamp: received hour", `{"type":"track","timestamp":"yesterday"}`, "dt=2024-05-06/hour=10"},
		{"a number is no timestamp: received hour", `{"type":"track","timestamp":1714960800000}`, "dt=2024-05-06/hour=10"},
		{"originalTimestamp corrected by sentAt, as the store does",
			`{"type":"track","originalTimestamp":"2024-05-06T09:00:00Z","sentAt":"2024-05-06T09:30:00Z"}`, "dt=2024-05-06/hour=09"},
		{"a publish event's time", `{"id":"p","topic":"user.created","data":{},"time":"2024-05-06T04:10:00Z"}`, "dt=2024-05-06/hour=04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smp, err := delivery.DecodeSample(json.RawMessage(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := delivery.Render(c, []delivery.Sample{smp}, now, "preview")
			if err != nil || len(objs) != 1 {
				t.Fatalf("Render: %d objects, %v", len(objs), err)
			}
			if want := "ev/" + tt.want + "/2024-05-06T10-20-00-000Z_"; !strings.HasPrefix(objs[0].Key, want) {
				t.Errorf("key %q, want it under %q", objs[0].Key, want)
			}
		})
	}

	// Events of different hours go to different files; received keeps them
	// together under the file's own time.
	var samples []delivery.Sample
	for _, e := range []string{`{"type":"track","timestamp":"2024-05-06T07:00:00Z"}`, `{"type":"track","timestamp":"2024-05-06T08:00:00Z"}`,
		`{"type":"track","timestamp":"2024-05-06T07:30:00Z"}`} {
		smp, err := delivery.DecodeSample(json.RawMessage(e))
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, smp)
	}
	objs, err := delivery.Render(c, samples, now, "preview")
	if err != nil || len(objs) != 2 || objs[0].Events != 2 || objs[1].Events != 1 ||
		!strings.Contains(objs[0].Key, "hour=07/") || !strings.Contains(objs[1].Key, "hour=08/") {
		t.Errorf("event time: %+v, %v; want 2 events in hour 07 and 1 in hour 08", objs, err)
	}
	m.PartitionTime = store.PartitionTimeReceived
	if c, err = delivery.Compile(m, store.DestinationConfig{}); err != nil {
		t.Fatal(err)
	}
	objs, err = delivery.Render(c, samples, now, "preview")
	if err != nil || len(objs) != 1 || objs[0].Events != 3 || !strings.HasPrefix(objs[0].Key, "ev/dt=2024-05-06/hour=10/") {
		t.Errorf("received: %+v, %v; want one file of 3 events in the hour it is written", objs, err)
	}
}

// ndjsonStream concatenates the objects under prefix in key order, as
// `cat` or `zcat` over the folder would, and checks that the stream is
// valid NDJSON: every line a JSON object, as many lines as newlines.
// It returns the message ids in the stream.
func (r *rig) ndjsonStream(tb testing.TB, prefix string, gzipped bool) []string {
	tb.Helper()
	var all bytes.Buffer
	keys := r.MinIO.MustListKeys(tb, r.Bucket, prefix)
	for _, key := range keys {
		body := r.MinIO.MustGetObject(tb, r.Bucket, key)
		if gzipped != bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
			tb.Fatalf("%s: gzip %v, but the body starts %q", key, gzipped, body[:min(len(body), 8)])
		}
		all.Write(body)
	}
	var stream io.Reader = &all
	if gzipped {
		zr, err := gzip.NewReader(stream) // reads every member, as zcat does
		if err != nil {
			tb.Fatal(err)
		}
		stream = zr
	}
	text, err := io.ReadAll(stream)
	if err != nil {
		tb.Fatal(err)
	}
	if len(text) > 0 && text[len(text)-1] != '\n' {
		tb.Errorf("the stream of %d files does not end with a newline", len(keys))
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.MessageID == "" {
			tb.Errorf("line %d is not an event: %q (%v)", len(ids)+1, sc.Text(), err)
		}
		ids = append(ids, m.MessageID)
	}
	if n := bytes.Count(text, []byte("\n")); n != len(ids) {
		tb.Errorf("wc -l says %d, but the stream holds %d lines", n, len(ids))
	}
	return ids
}

// Files the engine writes to S3 concatenate into one valid NDJSON stream,
// plain and gzip: line count = events, each line an event, each event once.
func TestEngineJSONLFilesConcatenate(t *testing.T) {
	r := mustRig(t)
	plain := r.mustMapping(t, &store.Mapping{Name: "plain", Format: "jsonl", Folder: "plain", BatchSize: 7, BatchMaxAgeSeconds: 1})
	gz := r.mustMapping(t, &store.Mapping{Name: "gz", Format: "jsonl", Compression: "gzip", KeyPreset: "segment_classic", BatchSize: 7, BatchMaxAgeSeconds: 1})
	r.send(t, "c", 30, "track")
	runEngine(t, r.engine(delivery.Config{}))
	if ds := r.waitDelivered(t, plain.ID, 30, 30*time.Second); len(ds) != 5 {
		t.Errorf("plain: %d files, want 5 (4 of 7 events, 1 of 2)", len(ds))
	}
	if ds := r.waitDelivered(t, gz.ID, 30, 30*time.Second); len(ds) != 5 {
		t.Errorf("gzip: %d files, want 5", len(ds))
	}
	for name, ids := range map[string][]string{
		"plain": r.ndjsonStream(t, "raw/plain/", false),
		"gzip":  r.ndjsonStream(t, "raw/segment-logs/", true),
	} {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("%s: %s appears twice", name, id)
			}
			seen[id] = true
		}
		if len(ids) != 30 || len(seen) != 30 {
			t.Errorf("%s: %d lines, %d distinct events; want 30", name, len(ids), len(seen))
		}
	}
}

// With partition_time event, events land in the hive folder (and classic
// day folder) of their own hour, each exactly once, across a restart; the
// preview of a file's stored events gives the engine's key and bytes.
func TestEngineEventTimePartitions(t *testing.T) {
	r := mustRig(t)
	hive := r.mustMapping(t, &store.Mapping{Name: "hive", Format: "jsonl", KeyPreset: "hive", Folder: "hive",
		PartitionTime: store.PartitionTimeEvent, BatchSize: 1000, BatchMaxAgeSeconds: 1})
	classic := r.mustMapping(t, &store.Mapping{Name: "classic", Format: "jsonl", Compression: "gzip", KeyPreset: "segment_classic",
		PartitionTime: store.PartitionTimeEvent, BatchSize: 1000, BatchMaxAgeSeconds: 1})
	// Events stamped with their own times; received at 10:20 on 2024-05-06.
	stamps := map[string]string{
		"h07":    "2024-05-06T07:15:00.000Z", // 3 hours before receipt
		"h09":    "2024-05-06T09:59:59.999Z",
		"h10":    "2024-05-06T10:05:00.000Z",
		"d05":    "2024-05-05T23:00:00.000Z", // the day before
		"old":    "2024-04-01T00:00:00.000Z", // older than the week's window: received hour
		"future": "2024-05-07T10:00:00.000Z", // a day ahead: received hour
	}
	want := map[string]string{"h07": "dt=2024-05-06/hour=07", "h09": "dt=2024-05-06/hour=09", "h10": "dt=2024-05-06/hour=10",
		"d05": "dt=2024-05-05/hour=23", "old": "dt=2024-05-06/hour=10", "future": "dt=2024-05-06/hour=10"}
	wantDay := map[string]string{"d05": "1714867200000"} // others: 2024-05-06, 1714953600000
	msgs := func(round string) []string {
		var out []string
		for name, ts := range stamps {
			for i := range 3 {
				out = append(out, fmt.Sprintf(`{"type":"track","event":"E","userId":"u","messageId":"%s-%s-%d","timestamp":%q}`, round, name, i, ts))
			}
		}
		return out
	}
	r.sendAt(t, received, msgs("a")...)
	stop := runEngine(t, r.engine(delivery.Config{}))
	r.waitDelivered(t, hive.ID, 18, 30*time.Second)
	r.waitDelivered(t, classic.ID, 18, 30*time.Second)
	stop()
	// A second run routes the next events the same way, into new files.
	r.sendAt(t, received.Add(time.Minute), msgs("b")...)
	runEngine(t, r.engine(delivery.Config{}))
	hiveFiles := r.waitDelivered(t, hive.ID, 36, 30*time.Second)
	classicFiles := r.waitDelivered(t, classic.ID, 36, 30*time.Second)
	// Files hold one hour each, in either layout: 4 hours, 2 runs.
	if len(hiveFiles) != 8 || len(classicFiles) != 8 {
		t.Errorf("%d hive files, %d classic files; want 8 each", len(hiveFiles), len(classicFiles))
	}

	seen := map[string]string{}
	for _, key := range r.MinIO.MustListKeys(t, r.Bucket, "raw/hive/") {
		for _, line := range strings.Split(strings.TrimSuffix(string(r.MinIO.MustGetObject(t, r.Bucket, key)), "\n"), "\n") {
			var ev struct {
				MessageID string `json:"messageId"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if prev, ok := seen[ev.MessageID]; ok {
				t.Errorf("%s is in %s and %s", ev.MessageID, prev, key)
			}
			seen[ev.MessageID] = key
			name := strings.Split(ev.MessageID, "-")[1]
			if !strings.HasPrefix(key, "raw/hive/"+want[name]+"/") {
				t.Errorf("%s (timestamp %s) is in %s, want under %s", ev.MessageID, stamps[name], key, want[name])
			}
		}
	}
	if len(seen) != 36 {
		t.Errorf("%d events in the hive folders, want 36", len(seen))
	}
	for _, id := range r.ndjsonStream(t, "raw/segment-logs/", true) {
		name := strings.Split(id, "-")[1]
		day := wantDay[name]
		if day == "" {
			day = "1714953600000"
		}
		var key string
		for _, d := range classicFiles {
			if strings.Contains(d.Key, "/"+day+"/") {
				key = d.Key
			}
		}
		if key == "" {
			t.Errorf("%s: no classic file in the day folder %s", id, day)
		}
	}

	// Preview = engine: the stored events of each file render to its key and bytes.
	ctx := context.Background()
	for _, d := range append(hiveFiles, classicFiles...) {
		m, err := r.DB.MappingByID(ctx, r.Dest.ID, d.MappingID)
		if err != nil {
			t.Fatal(err)
		}
		c, err := delivery.Compile(m, r.Dest.Config)
		if err != nil {
			t.Fatal(err)
		}
		var samples []delivery.Sample
		err = r.DB.DeliveryEvents(ctx, d.ID, d.Events, func(ev *store.Event) error {
			smp, err := delivery.StoredSample(ev)
			smp.SourceID = ev.SourceID
			samples = append(samples, smp)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		objs, err := delivery.Render(c, samples, d.CreatedAt, d.ID)
		if err != nil || len(objs) != 1 {
			t.Fatalf("render %s: %d objects, %v", d.Key, len(objs), err)
		}
		if objs[0].Key != d.Key {
			t.Errorf("preview key %q, engine key %q", objs[0].Key, d.Key)
		}
		if body := r.MinIO.MustGetObject(t, r.Bucket, d.Key); !bytes.Equal(objs[0].Body, body) {
			t.Errorf("%s: preview bytes %q differ from the object's %q", d.Key, objs[0].Body, body)
		}
	}
}
