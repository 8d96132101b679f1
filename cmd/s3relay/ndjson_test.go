package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/store"
)

// concatenated is every object under prefix joined in key order, as
// `cat prefix*` would give them; gzipped objects go through the gzip tool
// as `zcat *.gz` would.
func (p *pipeline) concatenated(tb testing.TB, prefix string, gzipped bool) ([]byte, int) {
	tb.Helper()
	var all bytes.Buffer
	keys := p.MinIO.MustListKeys(tb, p.Bucket, prefix)
	for _, key := range keys {
		all.Write(p.MinIO.MustGetObject(tb, p.Bucket, key))
	}
	if !gzipped {
		return all.Bytes(), len(keys)
	}
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = &all
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("gzip -dc over %d objects: %v", len(keys), err)
	}
	return out, len(keys)
}

// ndjsonLines checks that stream is NDJSON (each line a JSON object, a
// newline after the last) and returns the lines' message ids and timestamps.
func ndjsonLines(tb testing.TB, name string, stream []byte) map[string]string {
	tb.Helper()
	if len(stream) == 0 || stream[len(stream)-1] != '\n' {
		tb.Errorf("%s: the stream does not end with a newline", name)
	}
	out := map[string]string{}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var ev struct {
			MessageID string `json:"messageId"`
			Timestamp string `json:"timestamp"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.MessageID == "" {
			tb.Fatalf("%s: line %d is not an event: %q (%v)", name, lines, sc.Text(), err)
		}
		if _, dup := out[ev.MessageID]; dup {
			tb.Errorf("%s: %s appears twice", name, ev.MessageID)
		}
		out[ev.MessageID] = ev.Timestamp
	}
	if n := bytes.Count(stream, []byte("\n")); n != lines {
		tb.Errorf("%s: wc -l counts %d, the stream has %d lines", name, n, lines)
	}
	return out
}

// Events sent by analytics-go through the binary land in jsonl files that
// concatenate, plain and gzipped (read back by the gzip tool), into one
// NDJSON stream of exactly the events; a mapping partitioned by event time
// puts each in the hive folder of its own hour.
func TestNDJSONFilesConcatenateThroughTheBinary(t *testing.T) {
	plain := &store.Mapping{Name: "plain", Format: "jsonl", Folder: "plain", Trigger: `type = "track"`, BatchSize: 150, BatchMaxAgeSeconds: 1}
	gz := &store.Mapping{Name: "classic", Format: "jsonl", Compression: "gzip", KeyPreset: "segment_classic", Trigger: `type = "track"`,
		BatchSize: 150, BatchMaxAgeSeconds: 1}
	hourly := &store.Mapping{Name: "hourly", Format: "jsonl", KeyPreset: "hive", Folder: "hourly", Trigger: `type = "track"`,
		PartitionTime: store.PartitionTimeEvent, BatchSize: 1000, BatchMaxAgeSeconds: 1}
	p := mustPipeline(t, plain, gz, hourly)
	s := startServer(t, p.DataDir)
	client, err := segment.NewWithConfig(p.Source.WriteKey, segment.Config{Endpoint: s.URL, BatchSize: 100, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Own times from 1 to 4 hours back, whole seconds: each names its hour
	// whatever the time now (the window is a week).
	base := time.Now().UTC().Truncate(time.Second)
	const n = 1000
	for i := range n {
		ts := base.Add(-time.Duration(1+i%4) * time.Hour)
		if err := client.Enqueue(segment.Track{MessageId: fmt.Sprintf("nd-%04d", i), UserId: "u", Event: "E", Timestamp: ts,
			Properties: segment.NewProperties().Set("note", "line\nbreak")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*store.Mapping{plain, gz, hourly} {
		p.waitAllDelivered(t, m, n, 60*time.Second)
	}
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}

	stream, files := p.concatenated(t, "plain/", false)
	if got := ndjsonLines(t, "plain", stream); len(got) != n || files < 7 {
		t.Errorf("plain: %d events in %d files, want %d in at least 7", len(got), files, n)
	}
	stream, files = p.concatenated(t, "segment-logs/", true)
	if got := ndjsonLines(t, "gzip", stream); len(got) != n || files < 7 {
		t.Errorf("gzip: %d events in %d files, want %d in at least 7", len(got), files, n)
	}
	seen := map[string]string{}
	for _, key := range p.MinIO.MustListKeys(t, p.Bucket, "hourly/") {
		for id, ts := range ndjsonLines(t, key, p.MinIO.MustGetObject(t, p.Bucket, key)) {
			if prev, dup := seen[id]; dup {
				t.Errorf("%s is in %s and %s", id, prev, key)
			}
			seen[id] = key
			own, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Fatalf("%s: timestamp %q: %v", id, ts, err)
			}
			if want := own.UTC().Format("hourly/dt=2006-01-02/hour=15/"); !strings.HasPrefix(key, want) {
				t.Errorf("%s (timestamp %s) is in %s, want under %s", id, ts, key, want)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d events in the hourly folders, want %d", len(seen), n)
	}
}
