package format_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
)

func TestPartitionHour(t *testing.T) {
	received := time.Date(2024, 3, 10, 12, 30, 0, 0, time.UTC)
	week := 168 * time.Hour
	tests := []struct {
		name     string
		ts       time.Time
		window   time.Duration
		want     time.Time
		wantOwn  bool
		received time.Time
	}{
		{"own time, same hour", time.Date(2024, 3, 10, 12, 5, 0, 0, time.UTC), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), true, received},
		{"own time, an hour earlier", time.Date(2024, 3, 10, 11, 59, 59, 999e6, time.UTC), week,
			time.Date(2024, 3, 10, 11, 0, 0, 0, time.UTC), true, received},
		{"own time, days earlier, inside the window", time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), week,
			time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), true, received},
		{"exactly the window before receipt is inside", received.Add(-week), week,
			time.Date(2024, 3, 3, 12, 0, 0, 0, time.UTC), true, received},
		{"older than the window: the receipt hour", received.Add(-week - time.Millisecond), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"a one-hour window", received.Add(-90 * time.Minute), time.Hour,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"a few minutes ahead (fast clock) keeps its hour", time.Date(2024, 3, 10, 13, 2, 0, 0, time.UTC), week,
			time.Date(2024, 3, 10, 13, 0, 0, 0, time.UTC), true, time.Date(2024, 3, 10, 12, 50, 0, 0, time.UTC)},
		{"exactly the skew ahead is inside", received.Add(format.PartitionSkew), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), true, received},
		{"further ahead than the skew: the receipt hour", received.Add(format.PartitionSkew + time.Millisecond), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"a year ahead: the receipt hour", received.AddDate(1, 0, 0), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"no own time: the receipt hour", time.Time{}, week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"the Unix epoch (an unset stored time): the receipt hour", time.UnixMilli(0), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), false, received},
		{"other zones are read as UTC", time.Date(2024, 3, 10, 7, 15, 0, 0, time.FixedZone("EST", -5*3600)), week,
			time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), true, received},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, own := format.PartitionHour(tt.ts, tt.received, tt.window)
			if !got.Equal(tt.want) || got.Location() != time.UTC || own != tt.wantOwn {
				t.Errorf("got %v (own %v), want %v (own %v)", got, own, tt.want, tt.wantOwn)
			}
		})
	}
}

// With a partition time, folders name the partition's hour and file names
// keep the time the file was sealed.
func TestKeyPartitionTime(t *testing.T) {
	hour := time.Date(2023, 12, 31, 22, 0, 0, 0, time.UTC) // day 1703980800000
	in := format.KeyInput{Time: sealed, PartitionTime: hour, FileID: "del_01", SourceID: "src_1", Type: "track"}
	tests := []struct {
		name string
		spec format.Spec
		want string
	}{
		{"hive", format.Spec{Format: format.JSONL, KeyPreset: format.PresetHive, Folder: "events"},
			"events/dt=2023-12-31/hour=22/2024-01-02T03-04-05-678Z_" + suffix01 + ".jsonl"},
		{"segment classic", format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic},
			"segment-logs/src_1/1703980800000/1704164645678_" + suffix01 + ".jsonl.gz"},
		{"custom: date and hour tokens name the partition, the others the file",
			format.Spec{Format: format.CSV, Columns: cols, KeyPreset: format.PresetCustom,
				KeyTemplate: "{yyyy}/{mm}/{dd}/{hh}/{date}/{day_ms}/{mi}{ss}{ms}_{timestamp}_{unix}_{unix_ms}_{suffix}.{ext}"},
			"2023/12/31/22/2023-12-31/1703980800000/0405678_2024-01-02T03-04-05-678Z_1704164645_1704164645678_" + suffix01 + ".csv"},
		{"segment actions names no folder time", format.Spec{Format: format.JSONL},
			"2024-01-02T03-04-05-678Z_" + suffix01 + ".jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MustCompile(t, tt.spec).Key(in)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
			noPartition := in
			noPartition.PartitionTime = time.Time{}
			plain, err := MustCompile(t, tt.spec).Key(noPartition)
			if err != nil || strings.Contains(plain, "2023") {
				t.Errorf("without a partition time: got %q, %v; want the seal time only", plain, err)
			}
		})
	}
}

// Files concatenate into one NDJSON stream (cat *.jsonl, zcat *.jsonl.gz):
// as many lines as events, each a JSON object.
func TestJSONLFilesConcatenate(t *testing.T) {
	for _, compression := range []string{format.None, format.Gzip} {
		t.Run(compression, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.JSONL, Compression: compression})
			var all bytes.Buffer
			files := [][]string{{`{"n":1}`, `{"n":2}`}, {`{"n":3}`}, {`{"n":4}`, `{"n":5}`, `{"n":6}`}}
			for _, evs := range files {
				var ms []map[string]any
				for _, e := range evs {
					ms = append(ms, MustEvent(t, e))
				}
				b, err := f.EncodeAll(ms)
				if err != nil {
					t.Fatal(err)
				}
				all.Write(b)
			}
			var r io.Reader = &all
			if compression == format.Gzip {
				zr, err := gzip.NewReader(r) // multistream, as zcat reads
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			}
			stream, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := bytes.Count(stream, []byte("\n")), 6; got != want {
				t.Errorf("wc -l: got %d, want %d in %q", got, want, stream)
			}
			sc := bufio.NewScanner(bytes.NewReader(stream))
			n := 0
			for sc.Scan() {
				n++
				var v struct{ N int }
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v.N != n {
					t.Errorf("line %d = %q: %v", n, sc.Text(), err)
				}
			}
			if n != 6 {
				t.Errorf("got %d lines, want 6", n)
			}
		})
	}
}

// csv and txt stay byte for byte as Segment writes them: no newline after
// the last row.
func TestTableFilesEndWithoutNewline(t *testing.T) {
	for _, ft := range []string{format.CSV, format.TXT} {
		f := MustCompile(t, format.Spec{Format: ft, Columns: cols})
		got := MustEncodeAll(t, f, MustEvent(t, `{"v":1}`), MustEvent(t, `{"v":2}`))
		if want := "v\n\"1\"\n\"2\""; got != want {
			t.Errorf("%s: got %q, want %q", ft, got, want)
		}
	}
}
