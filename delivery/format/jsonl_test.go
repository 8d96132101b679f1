package format_test

import (
	"testing"

	"github.com/s3relay/s3relay/delivery/format"
)

// Each line is the whole event as compact JSON, ended by "\n" (the last one
// too, as NDJSON requires), so that files concatenate into one stream.
func TestJSONL(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		float  bool
		want   string
	}{
		{"one event", []string{`{"type":"track","event":"Signed Up"}`}, false,
			`{"event":"Signed Up","type":"track"}` + "\n"},
		{"every line ends with a newline, the last one too", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, false,
			"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"},
		{"keys sorted at every level", []string{`{"z":{"y":1,"x":[{"b":1,"a":2}]},"a":null}`}, false,
			`{"a":null,"z":{"x":[{"a":2,"b":1}],"y":1}}` + "\n"},
		{"exact numbers with json.Number", []string{`{"big":9007199254740993,"f":0.10,"e":1E+3}`}, false,
			`{"big":9007199254740993,"e":1E+3,"f":0.10}` + "\n"},
		{"float64 numbers as JavaScript", []string{`{"big":9007199254740993,"f":0.10,"e":1e21}`}, true,
			`{"big":9007199254740992,"e":1e+21,"f":0.1}` + "\n"},
		{"newlines and quotes escaped", []string{`{"s":"a\nb\r\"c\"\tz"}`}, false,
			`{"s":"a\nb\r\"c\"\tz"}` + "\n"},
		{"unicode and emoji raw, no HTML escaping", []string{`{"s":"é 🎉 <a&b>"}`}, false,
			`{"s":"é 🎉 <a&b>"}` + "\n"},
		{"no events", nil, false, ""},
	}
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evs []map[string]any
			for _, e := range tt.events {
				if tt.float {
					evs = append(evs, MustFloatEvent(t, e))
				} else {
					evs = append(evs, MustEvent(t, e))
				}
			}
			if got := MustEncodeAll(t, f, evs...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJSONLGzip(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL, Compression: format.Gzip})
	b, err := f.EncodeAll([]map[string]any{MustEvent(t, `{"n":1}`), MustEvent(t, `{"n":2}`)})
	if err != nil {
		t.Fatalf("EncodeAll: %v", err)
	}
	if got, want := MustGunzip(t, b), "{\"n\":1}\n{\"n\":2}\n"; got != want {
		t.Errorf("gunzipped: got %q, want %q", got, want)
	}
	checkObjectHeaders(t, f, "jsonl.gz", "text/plain", "gzip")
}

func TestExtensions(t *testing.T) {
	tests := []struct {
		spec format.Spec
		want string
	}{
		{format.Spec{Format: format.CSV, Columns: format.DefaultColumns()}, "csv"},
		{format.Spec{Format: format.TXT, Columns: format.DefaultColumns()}, "txt"},
		{format.Spec{Format: format.TXT, FileExtension: "csv", Columns: format.DefaultColumns()}, "csv"},
		{format.Spec{Format: format.CSV, Compression: format.Gzip, Columns: format.DefaultColumns()}, "csv.gz"},
		{format.Spec{Format: format.JSONL}, "jsonl"},
		{format.Spec{Format: format.JSONL, FileExtension: "json"}, "json"},
		{format.Spec{Format: format.JSONL, FileExtension: "ndjson", Compression: format.Gzip}, "ndjson.gz"},
		{format.Spec{Format: format.JSON}, "json"},
	}
	for _, tt := range tests {
		if got := MustCompile(t, tt.spec).Extension(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.spec, got, tt.want)
		}
	}
}
