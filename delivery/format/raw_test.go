package format_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	jmespath "github.com/jmespath-community/go-jmespath"

	"github.com/s3relay/s3relay/delivery/format"
)

// encodeJSON encodes stored events (JSON) with f or fails the test.
func encodeJSON(tb testing.TB, f *format.Format, events ...string) string {
	tb.Helper()
	var buf bytes.Buffer
	enc, err := f.NewEncoder(&buf, len(events))
	if err != nil {
		tb.Fatal(err)
	}
	for _, ev := range events {
		if err := enc.EncodeJSON([]byte(ev)); err != nil {
			tb.Fatalf("EncodeJSON(%s): %v", ev, err)
		}
	}
	if err := enc.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// TestEncodeJSONCells: the engine encodes events from their stored JSON.
// Nested values keep the sender's key order and escapes, without white
// space, as Segment's JSON.stringify of the parsed event writes them.
func TestEncodeJSONCells(t *testing.T) {
	tests := []struct {
		name, value, event, want string
	}{
		{"nested keys in sent order", "$.v", `{"v":{"b":1,"a":{"d":2,"c":3}}}`, `{"b":1,"a":{"d":2,"c":3}}`},
		{"white space removed", "$.v", "{\"v\" : { \"a\" :\t[1, 2 ,\n\"x y\" ] } }", `{"a":[1,2,"x y"]}`},
		{"escapes kept in nested strings", "$.v", `{"v":{"s":"\u00e9\n\"q\""}}`, `{"s":"\u00e9\n\"q\""}`},
		{"string unescaped", "$.v", `{"v":"\u00e9\ud83c\udf89 \"q\""}`, `é🎉 "q"`},
		{"number as sent", "$.v", `{"v":1.50}`, `1.50`},
		{"negative zero as sent", "$.v", `{"v":-0}`, `-0`},
		{"true", "$.v", `{"v":true}`, `true`},
		{"null", "$.v", `{"v":null}`, ``},
		{"missing", "$.w", `{"v":1}`, ``},
		{"last of a repeated key", "$.v", `{"v":1,"v":2}`, `2`},
		{"nested path", "$.a.b", `{"a":{"b":"x"}}`, `x`},
		{"path through a string", "$.a.b", `{"a":"b"}`, ``},
		{"index", "$.a[1]", `{"a":[1,{"k":true},3]}`, `{"k":true}`},
		{"negative index", "$.a[-1]", `{"a":[1,2,3]}`, `3`},
		{"index past the end", "$.a[3]", `{"a":[1,2,3]}`, ``},
		{"negative index past the start", "$.a[-4]", `{"a":[1,2,3]}`, ``},
		{"index into an object", "$.a[0]", `{"a":{"0":1}}`, ``},
		{"quoted key with dots", "$['a.b']", `{"a.b":"dotted","a":{"b":"nested"}}`, `dotted`},
		{"key with gjson path characters", "$['*?#@|\\\\']", `{"*?#@|\\":"odd"}`, `odd`},
		{"empty key", "$['']", `{"":"empty"}`, `empty`},
		{"invalid UTF-8 replaced", "$.v", "{\"v\":\"a\xffb\"}", "a\uFFFDb"},
		{"invalid UTF-8 in nested JSON replaced", "$.v", "{\"v\":[\"a\xffb\"]}", "[\"a\uFFFDb\"]"},
		{"not_null: first", "not_null(traits.email, context.traits.email)", `{"traits":{"email":"a@x"},"context":{"traits":{"email":"b@x"}}}`, `a@x`},
		{"not_null: second", "not_null(traits.email, context.traits.email)", `{"traits":{"email":null},"context":{"traits":{"email":"b@x"}}}`, `b@x`},
		{"not_null: false is not null", "not_null(a, b)", `{"a":false,"b":1}`, `false`},
		{"not_null: object in sent order", "not_null(traits, context.traits)", `{"context":{"traits":{"z":1,"a":2}}}`, `{"z":1,"a":2}`},
		{"not_null: none", "not_null(a, b[0])", `{"b":[]}`, ``},
		{"not_null of a non-path is JMESPath", "not_null(a, `3`)", `{"b":1}`, `3`},
		{"JMESPath reads the decoded event", "length(a)", `{"a":[1,2,3]}`, `3`},
		{"JMESPath object result", "a", `{"a":{"b":1,"a":2}}`, `{"b":1,"a":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.TXT, Delimiter: "tab", Columns: []format.Column{{Name: "v", Value: tt.value}}})
			out := encodeJSON(t, f, tt.event)
			rd := csv.NewReader(strings.NewReader(out))
			rd.Comma = '\t'
			rd.LazyQuotes = true
			records, err := rd.ReadAll()
			if err != nil || len(records) != 2 {
				t.Fatalf("file %q: %v", out, err)
			}
			if got := records[1][0]; got != tt.want {
				t.Errorf("%s of %s = %q, want %q", tt.value, tt.event, got, tt.want)
			}
		})
	}
}

func TestEncodeJSONLines(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	got := encodeJSON(t, f, `{"a":1, "b" : {"z": "x y", "y":[ 1 ]}}`, "{\"c\":\"\xff\"}")
	want := "{\"a\":1,\"b\":{\"z\":\"x y\",\"y\":[1]}}\n{\"c\":\"\uFFFD\"}\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Events stored before ingestion normalized text still give valid files:
// lone surrogate escapes become \ufffd, valid pairs stay as sent.
func TestEncodeJSONLinesReplaceLoneSurrogates(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	got := encodeJSON(t, f, `{"a":"x\ud800y","\udc00":["\ud83e\udd84"]}`)
	want := `{"a":"x\ufffdy","\ufffd":["\ud83e\udd84"]}` + "\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	csv := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "p", Value: "$.p"}}})
	if got := encodeJSON(t, csv, `{"p":{"k":"\uDBFF"}}`); got != "p\n\"{\"\"k\"\":\"\"\\ufffd\"\"}\"" {
		t.Errorf("csv cell: got %q", got)
	}
}

func TestEncodeJSONAudienceAction(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.CSV, AudienceActionColumn: "action", Columns: []format.Column{{Name: "id", Value: "$.messageId"}}})
	got := encodeJSON(t, f,
		`{"messageId":"1","context":{"personas":{"computation_key":"vip"}},"properties":{"vip":true}}`,
		`{"messageId":"2","context":{"personas":{"computation_key":"vip"}},"properties":null,"traits":{"vip":false}}`,
		`{"messageId":"3","context":{"personas":{"computation_key":"vip"}},"properties":"text"}`,
		`{"messageId":"4","properties":{"vip":true}}`)
	want := "id,action\n\"1\",\"true\"\n\"2\",\"false\"\n\"3\",\"\"\n\"4\",\"\""
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEncodeJSONRefusesNonObjects(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: "$.v"}}})
	enc, err := f.NewEncoder(&bytes.Buffer{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeJSON([]byte(`[1]`)); err == nil {
		t.Error("an array was encoded as an event")
	}
}

// FuzzEncodeJSONMatchesDecoded: reading a value straight from the JSON
// gives what reading it from the decoded event gives: the same text for
// strings, numbers and booleans, and the same JSON value for objects and
// arrays (whose key order is the sender's rather than sorted).
//
//fuzz:budget 300000x
func FuzzEncodeJSONMatchesDecoded(f *testing.F) {
	for _, s := range []string{
		`{"a":{"b":[1,"x",{"c":null}]},"b":"t\u00e9xt"}`,
		`{"a":[1.50,-0,1E+3,true],"b":{"z":1,"y":2}}`,
		`{"a":{"a":1,"a":2},"b":"\ud800"}`,
		"{\"a\":\"\xff\",\"b\":[\"\xc3\"]}",
		`{"a" : [ { "b" : 1 } ] , "b" : "\"q\" \\ \/"}`,
	} {
		f.Add(s)
	}
	paths := []string{"$.a", "$.a.b", "$.a[0]", "$.a[-1]", "$.b", "$.a.b[0]"}
	f.Fuzz(func(t *testing.T, event string) {
		if !json.Valid([]byte(event)) || !strings.HasPrefix(strings.TrimSpace(event), "{") {
			return
		}
		dec := json.NewDecoder(strings.NewReader(event))
		dec.UseNumber()
		var decoded map[string]any
		if dec.Decode(&decoded) != nil {
			return
		}
		for _, p := range paths {
			fm := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: p}}})
			raw := cell(t, encodeJSON(t, fm, event))
			fromMap := cell(t, MustEncodeAll(t, fm, decoded))
			if raw == fromMap {
				continue
			}
			if !sameJSON(raw, fromMap) {
				t.Errorf("%s of %q: from the JSON %q, from the decoded event %q", p, event, raw, fromMap)
			}
		}
		// not_null of paths is read from the JSON too: it must agree with
		// the JMESPath library.
		const notNull = "not_null(a.b, b, a[0])"
		fm := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: notNull}}})
		raw := cell(t, encodeJSON(t, fm, event))
		want, err := jmespath.Search(notNull, decoded)
		if err != nil {
			t.Fatal(err)
		}
		switch w := want.(type) {
		case nil:
			if raw != "" {
				t.Errorf("%s of %q = %q, want nothing", notNull, event, raw)
			}
		case string:
			if raw != w {
				t.Errorf("%s of %q = %q, want %q", notNull, event, raw, w)
			}
		default:
			b, _ := json.Marshal(w)
			if !sameJSON(raw, string(b)) {
				t.Errorf("%s of %q = %q, want %s", notNull, event, raw, b)
			}
		}
	})
}

// sameJSON tells whether two cells are the same text or the same JSON value.
func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// cell is the one cell of a one-column, one-row csv file.
func cell(tb testing.TB, file string) string {
	tb.Helper()
	records, err := csv.NewReader(strings.NewReader(file)).ReadAll()
	if err != nil || len(records) != 2 || len(records[1]) != 1 {
		tb.Fatalf("file %q: %v", file, err)
	}
	return records[1][0]
}

// TestTransformsSameOnEveryPath: a transformed column writes the same bytes
// whether its cell is read from the stored JSON without decoding (a plain
// path or not_null of paths, the engine's fast path), from the decoded event
// (a JMESPath expression), or from an event given as a map (previews).
func TestTransformsSameOnEveryPath(t *testing.T) {
	events := []string{
		`{"email":"  Ann@Example.COM ","id":"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08","n":12.50,"ok":true,"o":{"A":"Ü ","b":[1,"X"]},"s":"ΟΔΟΣ\u00a0"}`,
		`{"email":" \t","id":null,"n":-0,"ok":false,"o":{},"s":"İ"}`,
		`{"id":"","n":1E5,"o":[" A "],"s":"\u2003x\ufeff"}`,
	}
	transforms := []struct{ normalize, hash, transform string }{
		{"lowercase_trim", "sha256", ""}, {"", "sha256", ""}, {"lowercase", "", ""}, {"trim", "", ""},
		{"trim", "sha256", ""}, {"", "", "normalize"}, {"", "", "sha256"}, {"none", "none", ""},
	}
	fields := []string{"email", "id", "n", "ok", "o", "s"}
	spec := func(value func(field string) string) format.Spec {
		var cols []format.Column
		for _, fld := range fields {
			for i, tr := range transforms {
				cols = append(cols, format.Column{Name: fld + "_" + strconv.Itoa(i), Value: value(fld),
					Normalize: tr.normalize, Hash: tr.hash, Transform: tr.transform})
			}
		}
		return format.Spec{Format: format.CSV, Columns: cols, BatchSizeColumn: format.DefaultBatchSizeColumn}
	}
	fast := MustCompile(t, spec(func(f string) string { return "$." + f }))
	notNull := MustCompile(t, spec(func(f string) string { return "not_null(" + f + ", missing)" }))
	decoded := MustCompile(t, spec(func(f string) string { return f }))

	want := encodeJSON(t, fast, events...)
	if got := encodeJSON(t, notNull, events...); got != want {
		t.Errorf("not_null path:\ngot  %q\nwant %q", got, want)
	}
	if got := encodeJSON(t, decoded, events...); got != want {
		t.Errorf("JMESPath:\ngot  %q\nwant %q", got, want)
	}
	var maps []map[string]any
	for _, ev := range events {
		maps = append(maps, MustEvent(t, ev))
	}
	if got := MustEncodeAll(t, fast, maps...); got != want {
		t.Errorf("maps:\ngot  %q\nwant %q", got, want)
	}
	// Spot checks that the transforms ran at all.
	for _, sub := range []string{
		`"71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476"`, // email lowercase_trim + sha256
		`"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"`, // a digest kept as it is
		`"οδος"`, `"i̇"`, `"x"`,
	} {
		if !strings.Contains(want, sub) {
			t.Errorf("file lacks %s:\n%s", sub, want)
		}
	}
}

// FuzzTransformPaths checks that every column transform writes the same
// cell from the stored JSON (fast path) as from the decoded event
// (JMESPath), valid UTF-8, and that a hash is an empty cell, the value
// itself (a digest), or 64 lowercase hex digits.
//
//fuzz:budget 20000x
func FuzzTransformPaths(f *testing.F) {
	for _, s := range []string{"", " ", "  Ann@Example.COM ", "ΟΔΟΣ\u00a0", "İ", "\u0085x\ufeff",
		"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", "\x00\xff"} {
		f.Add(s)
	}
	var cols, jcols []format.Column
	for _, n := range format.Normalizations() {
		for _, h := range format.Hashes() {
			cols = append(cols, format.Column{Name: n + "_" + h, Value: "$.v", Normalize: n, Hash: h})
			jcols = append(jcols, format.Column{Name: n + "_" + h, Value: "v", Normalize: n, Hash: h})
		}
	}
	fast := MustCompile(f, format.Spec{Format: format.CSV, Columns: cols})
	decoded := MustCompile(f, format.Spec{Format: format.CSV, Columns: jcols})
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := json.Marshal(map[string]string{"v": s})
		if err != nil {
			return
		}
		got, want := encodeJSON(t, fast, string(ev)), encodeJSON(t, decoded, string(ev))
		if got != want {
			t.Fatalf("fast path %q, JMESPath %q", got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		records, err := csv.NewReader(strings.NewReader(strings.ReplaceAll(got, "\r", ""))).ReadAll()
		if err != nil || len(records) != 2 {
			return
		}
		for i, c := range cols {
			cell := records[1][i]
			if c.Hash != format.HashSHA256 || cell == "" || cell == s {
				continue
			}
			if len(cell) != 64 || strings.Trim(cell, "0123456789abcdef") != "" {
				t.Errorf("%s of %q = %q, want a lowercase hex digest", c.Name, s, cell)
			}
		}
	})
}
