package format_test

import (
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/s3relay/s3relay/delivery/format"
)

// FuzzTableRoundTrip checks that any pair of string values survives an
// RFC 4180 reader for every delimiter: quoting never lets a value leak into
// the next cell or row.
//
//fuzz:budget 60000x
func FuzzTableRoundTrip(f *testing.F) {
	seeds := [][2]string{
		{"plain", ""},
		{`say "hi"`, `""`},
		{"a,b|c\td;e:f", "line1\nline2"},
		{"🎉 é 日本", "\"\n\","},
		{" lead and trail ", "\x00\x01"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	delims := map[string]rune{",": ',', "|": '|', "tab": '\t', ";": ';', ":": ':'}
	f.Fuzz(func(t *testing.T, a, b string) {
		// encoding/csv reads runes and folds "\r\n" into "\n" even inside
		// quotes, so only inputs it can return unchanged are compared.
		if !utf8.ValidString(a) || !utf8.ValidString(b) || strings.Contains(a+b, "\r") {
			return
		}
		for name, r := range delims {
			fm := MustCompile(t, format.Spec{Format: format.CSV, Delimiter: name, BatchSizeColumn: "n",
				Columns: []format.Column{{Name: "a", Value: "$.a"}, {Name: "b", Value: "$.b"}}})
			out := MustEncodeAll(t, fm, map[string]any{"a": a, "b": b}, map[string]any{"a": b})
			rd := csv.NewReader(strings.NewReader(out))
			rd.Comma = r
			records, err := rd.ReadAll()
			if err != nil {
				t.Fatalf("delimiter %s: read %q: %v", name, out, err)
			}
			want := [][]string{{"a", "b", "n"}, {a, b, "2"}, {b, "", "2"}}
			if len(records) != len(want) {
				t.Fatalf("delimiter %s: got %d records %q, want %q", name, len(records), records, want)
			}
			for i := range want {
				if strings.Join(records[i], "\x00") != strings.Join(want[i], "\x00") {
					t.Errorf("delimiter %s, record %d: got %q, want %q", name, i, records[i], want[i])
				}
			}
		}
	})
}

func BenchmarkEncodeCSVDefaultColumns(b *testing.B) {
	benchEncode(b, format.Spec{Format: format.CSV, Columns: format.DefaultColumns(),
		AudienceActionColumn: format.DefaultAudienceActionColumn, BatchSizeColumn: format.DefaultBatchSizeColumn},
		`{"type":"track","event":"Order Completed","userId":"u1","anonymousId":"a1",
		"messageId":"m1","timestamp":"2024-01-02T03:04:05.678Z",
		"properties":{"total":99.5,"items":[{"sku":"a"},{"sku":"b"}]},
		"context":{"traits":{"email":"c@example.com"},"ip":"1.2.3.4","library":{"name":"analytics.js"}}}`)
}

func BenchmarkEncodeJSONLGzip(b *testing.B) {
	benchEncode(b, format.Spec{Format: format.JSONL, Compression: format.Gzip},
		`{"type":"track","event":"Order Completed","userId":"u1","properties":{"total":99.5}}`)
}

// benchEncode streams b.N copies of one event, as stored JSON, into a file
// of spec, as the engine does.
func benchEncode(b *testing.B, spec format.Spec, event string) {
	fm := MustCompile(b, spec)
	ev := []byte(event)
	enc, err := fm.NewEncoder(io.Discard, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if err := enc.EncodeJSON(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
}
