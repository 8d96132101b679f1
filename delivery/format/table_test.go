package format_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/format"
)

// The expected files below follow Segment's syncToS3 generateFile: header
// names joined by the delimiter and ended by "\n", every cell quoted with
// inner quotes doubled, null and missing as "", objects as JSON, rows joined
// by "\n" with no newline after the last.

func TestTableCells(t *testing.T) {
	tests := []struct {
		name  string
		delim string
		event string // JSON; the column reads $.v
		float bool   // decode numbers as float64 instead of json.Number
		want  string // the file
	}{
		{"plain string", ",", `{"v":"abc"}`, false, "v\n\"abc\""},
		{"quotes doubled", ",", `{"v":"say \"hi\" \"\""}`, false, "v\n\"say \"\"hi\"\" \"\"\"\"\""},
		{"comma inside", ",", `{"v":"a,b"}`, false, "v\n\"a,b\""},
		{"every delimiter inside, comma", ",", `{"v":"a,b|c\td;e:f"}`, false, "v\n\"a,b|c\td;e:f\""},
		{"every delimiter inside, pipe", "|", `{"v":"a,b|c\td;e:f"}`, false, "v\n\"a,b|c\td;e:f\""},
		{"every delimiter inside, tab", "tab", `{"v":"a,b|c\td;e:f"}`, false, "v\n\"a,b|c\td;e:f\""},
		{"every delimiter inside, semicolon", ";", `{"v":"a,b|c\td;e:f"}`, false, "v\n\"a,b|c\td;e:f\""},
		{"every delimiter inside, colon", ":", `{"v":"a,b|c\td;e:f"}`, false, "v\n\"a,b|c\td;e:f\""},
		{"newline kept inside quotes", ",", `{"v":"line1\nline2"}`, false, "v\n\"line1\nline2\""},
		{"carriage return kept", ",", `{"v":"a\r\nb\rc"}`, false, "v\n\"a\r\nb\rc\""},
		{"unicode", ",", `{"v":"héllo wörld 日本"}`, false, "v\n\"héllo wörld 日本\""},
		{"emoji", ",", `{"v":"🎉 party 👩‍👩‍👧"}`, false, "v\n\"🎉 party 👩‍👩‍👧\""},
		{"escaped unicode decoded", ",", `{"v":"\u00e9\ud83c\udf89"}`, false, "v\n\"é🎉\""},
		{"empty string", ",", `{"v":""}`, false, "v\n\"\""},
		{"null", ",", `{"v":null}`, false, "v\n\"\""},
		{"missing", ",", `{"w":1}`, false, "v\n\"\""},
		{"true", ",", `{"v":true}`, false, "v\n\"true\""},
		{"false", ",", `{"v":false}`, false, "v\n\"false\""},
		{"nested object sorted, quotes doubled", ",", `{"v":{"b":{"c":[1,"x",null]},"a":true,"q":"say \"hi\""}}`, false,
			"v\n\"{\"\"a\"\":true,\"\"b\"\":{\"\"c\"\":[1,\"\"x\"\",null]},\"\"q\"\":\"\"say \\\"\"hi\\\"\"\"\"}\""},
		{"array", ",", `{"v":["a",2,false]}`, false, "v\n\"[\"\"a\"\",2,false]\""},
		{"empty object and array", ",", `{"v":[{},[]]}`, false, "v\n\"[{},[]]\""},
		{"no HTML escaping in JSON", ",", `{"v":{"h":"<a&b>"}}`, false, "v\n\"{\"\"h\"\":\"\"<a&b>\"\"}\""},
		{"newline inside nested JSON is escaped", ",", `{"v":{"s":"a\nb"}}`, false, "v\n\"{\"\"s\"\":\"\"a\\nb\"\"}\""},
		{"large int, json.Number", ",", `{"v":9007199254740993}`, false, "v\n\"9007199254740993\""},
		{"large int, float64", ",", `{"v":9007199254740993}`, true, "v\n\"9007199254740992\""},
		{"large int nested, json.Number", ",", `{"v":{"n":12345678901234567890}}`, false, "v\n\"{\"\"n\"\":12345678901234567890}\""},
		{"fraction, json.Number", ",", `{"v":0.1}`, false, "v\n\"0.1\""},
		{"fraction, float64", ",", `{"v":0.1}`, true, "v\n\"0.1\""},
		{"trailing zero, json.Number keeps the text", ",", `{"v":1.50}`, false, "v\n\"1.50\""},
		{"trailing zero, float64 as JavaScript", ",", `{"v":1.50}`, true, "v\n\"1.5\""},
		{"negative fraction, float64", ",", `{"v":-2.25}`, true, "v\n\"-2.25\""},
		{"1e21, float64", ",", `{"v":1e21}`, true, "v\n\"1e+21\""},
		{"1e20, float64", ",", `{"v":1e20}`, true, "v\n\"100000000000000000000\""},
		{"1e-7, float64", ",", `{"v":1e-7}`, true, "v\n\"1e-7\""},
		{"0.000001, float64", ",", `{"v":0.000001}`, true, "v\n\"0.000001\""},
		{"negative zero, float64", ",", `{"v":-0.0}`, true, "v\n\"0\""},
		{"integer, float64", ",", `{"v":42}`, true, "v\n\"42\""},
		{"exponent, json.Number keeps the text", ",", `{"v":1E+3}`, false, "v\n\"1E+3\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.CSV, Delimiter: tt.delim,
				Columns: []format.Column{{Name: "v", Value: "$.v"}}})
			ev := MustEvent(t, tt.event)
			if tt.float {
				ev = MustFloatEvent(t, tt.event)
			}
			if got := MustEncodeAll(t, f, ev); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTableDelimiters(t *testing.T) {
	event := `{"a":"x,y|z\tw;v:u","b":"plain"}`
	tests := []struct {
		delim string
		want  string
	}{
		{",", "a,b\n\"x,y|z\tw;v:u\",\"plain\""},
		{"|", "a|b\n\"x,y|z\tw;v:u\"|\"plain\""},
		{"tab", "a\tb\n\"x,y|z\tw;v:u\"\t\"plain\""},
		{";", "a;b\n\"x,y|z\tw;v:u\";\"plain\""},
		{":", "a:b\n\"x,y|z\tw;v:u\":\"plain\""},
	}
	for _, tt := range tests {
		t.Run(tt.delim, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.TXT, Delimiter: tt.delim, Columns: []format.Column{
				{Name: "a", Value: "$.a"}, {Name: "b", Value: "$.b"}}})
			if got := MustEncodeAll(t, f, MustEvent(t, event)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTableDefaultColumns(t *testing.T) {
	track := `{"type":"track","event":"Order Completed","userId":"u1","anonymousId":"a1",
		"messageId":"m1","timestamp":"2024-01-02T03:04:05.678Z",
		"properties":{"total":9007199254740993,"price":0.1,"note":"say \"hi\""},
		"context":{"traits":{"email":"c@example.com"},"ip":"1.2.3.4"},"integrations":{"All":true}}`
	identify := `{"type":"identify","userId":"u2","messageId":"m2","timestamp":"2024-01-02T03:04:06Z",
		"traits":{"email":"","plan":"pro","high_value":false},
		"context":{"traits":{"email":"ctx@example.com"},"personas":{"computation_key":"high_value","computation_id":"aud_1","space_id":"spa_1"}}}`
	audienceTrack := `{"type":"track","event":"Audience Entered","userId":"u3","messageId":"m3",
		"properties":{"high_value":true},"traits":{"email":"t@example.com"},
		"context":{"personas":{"computation_key":"high_value","computation_id":"aud_1","space_id":"spa_1"}}}`
	f := MustCompile(t, format.Spec{Format: format.CSV, Columns: format.DefaultColumns(),
		AudienceActionColumn: format.DefaultAudienceActionColumn, BatchSizeColumn: format.DefaultBatchSizeColumn})
	got := MustEncodeAll(t, f, MustEvent(t, track), MustEvent(t, identify), MustEvent(t, audienceTrack))
	want := "event_name,event_type,user_id,anonymous_id,email,properties,traits,context,timestamp,message_id,integrations,audience_name,audience_id,audience_space_id,audience_action,batch_size\n" +
		// traits falls back to context.traits when the event has none.
		`"Order Completed","track","u1","a1","c@example.com","{""note"":""say \""hi\"""",""price"":0.1,""total"":9007199254740993}","{""email"":""c@example.com""}","{""ip"":""1.2.3.4"",""traits"":{""email"":""c@example.com""}}","2024-01-02T03:04:05.678Z","m1","{""All"":true}","","","","","3"` + "\n" +
		// An empty traits.email exists, so Segment keeps it instead of context.traits.email.
		`"","identify","u2","","","","{""email"":"""",""high_value"":false,""plan"":""pro""}","{""personas"":{""computation_id"":""aud_1"",""computation_key"":""high_value"",""space_id"":""spa_1""},""traits"":{""email"":""ctx@example.com""}}","2024-01-02T03:04:06Z","m2","","high_value","aud_1","spa_1","false","3"` + "\n" +
		`"Audience Entered","track","u3","","t@example.com","{""high_value"":true}","{""email"":""t@example.com""}","{""personas"":{""computation_id"":""aud_1"",""computation_key"":""high_value"",""space_id"":""spa_1""}}","","m3","","high_value","aud_1","spa_1","true","3"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableRowsAndExtraColumns(t *testing.T) {
	cols := []format.Column{{Name: "id", Value: "$.id"}, {Name: "dropped", Value: "  "}, {Name: "n", Value: "$.n"}}
	events := []string{`{"id":"a","n":1}`, `{"id":"b","n":2.5}`, `{"id":"c"}`}
	tests := []struct {
		name     string
		spec     format.Spec
		events   []string
		want     string
		wantExt  string
		wantType string
	}{
		{"three rows, no trailing newline", format.Spec{Format: format.CSV, Columns: cols}, events,
			"id,n\n\"a\",\"1\"\n\"b\",\"2.5\"\n\"c\",\"\"", "csv", "text/csv"},
		{"batch size is the file's row count", format.Spec{Format: format.CSV, Columns: cols, BatchSizeColumn: "rows"}, events,
			"id,n,rows\n\"a\",\"1\",\"3\"\n\"b\",\"2.5\",\"3\"\n\"c\",\"\",\"3\"", "csv", "text/csv"},
		{"audience action without personas is empty", format.Spec{Format: format.TXT, Delimiter: "|", Columns: cols,
			AudienceActionColumn: "action", BatchSizeColumn: "size"}, events[:1],
			"id|n|action|size\n\"a\"|\"1\"|\"\"|\"1\"", "txt", "text/plain"},
		{"no rows is the header line", format.Spec{Format: format.CSV, Columns: cols, BatchSizeColumn: "rows"}, nil,
			"id,n,rows\n", "csv", "text/csv"},
		{"txt format with csv extension is text/csv", format.Spec{Format: format.TXT, FileExtension: "csv", Columns: cols}, events[:1],
			"id,n\n\"a\",\"1\"", "csv", "text/csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustCompile(t, tt.spec)
			var evs []map[string]any
			for _, e := range tt.events {
				evs = append(evs, MustEvent(t, e))
			}
			if got := MustEncodeAll(t, f, evs...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			checkObjectHeaders(t, f, tt.wantExt, tt.wantType, "")
		})
	}
}

// Column transforms, as Segment's columns_to_transform and processHashing
// do them: normalize, then hash; a blank value hashes to nothing; a value
// that already is a SHA-256 hex digest (either case) is kept as it is,
// checked before normalizing. The older transform names are aliases.
func TestTableTransforms(t *testing.T) {
	const (
		testSum   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
		testUpper = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
		// sha256 of testSum, which Segment's own tests give for a digest
		// hashed again.
		testSumSum = "7b3d979ca8330a94fa7e9e1b466d8b99e0bcdea1ec90596c0dcc8d7ef6b4300c"
	)
	tests := []struct {
		name                       string
		transform, normalize, hash string
		event                      string
		want                       string // the cell, unquoted
	}{
		{"no transform", "", "", "", `{"v":"  Keep  "}`, "  Keep  "},
		{"none is no transform", "", "none", "none", `{"v":"  Keep  "}`, "  Keep  "},
		{"lowercase keeps white space", "", "lowercase", "", `{"v":" MiXeD Case "}`, " mixed case "},
		{"trim keeps case", "", "trim", "", `{"v":"  MiXeD Case\t\n"}`, "MiXeD Case"},
		{"lowercase_trim", "", "lowercase_trim", "", `{"v":"  MiXeD Case\t\n"}`, "mixed case"},
		{"trim takes unicode white space as JavaScript does", "", "trim", "", `{"v":"\u00a0\u2003\u3000x y\u2028\ufeff\u205f"}`, "x y"},
		{"trim keeps U+0085, which JavaScript does not trim", "", "trim", "", `{"v":"\u0085x "}`, "\u0085x"},
		{"trim of blank is empty", "", "trim", "", `{"v":" \t "}`, ""},
		{"lowercase unicode", "", "lowercase", "", `{"v":"ÉCOLE"}`, "école"},
		{"lowercase dotted capital I as JavaScript", "", "lowercase", "", `{"v":"İ"}`, "i\u0307"},
		{"lowercase final sigma", "", "lowercase", "", `{"v":"ΟΔΟΣ ΣΑ"}`, "οδος σα"},
		{"lowercase keeps inner quotes for quoting", "", "lowercase_trim", "", `{"v":" A\"B "}`, `a""b`},
		{"lowercase a number as sent", "", "lowercase", "", `{"v":1E5}`, "1e5"},
		{"lowercase a boolean", "", "lowercase", "", `{"v":true}`, "true"},
		{"lowercase an object's JSON", "", "lowercase", "", `{"v":{"A":"B"}}`, `{""a"":""b""}`},
		{"lowercase null is empty", "", "lowercase", "", `{"v":null}`, ""},
		{"sha256 of a string", "", "", "sha256", `{"v":"abc"}`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha256 without normalize hashes the text as it is", "", "none", "sha256", `{"v":" test"}`, "eeb282539220fa206a1f16e69bfa9811c9dc8944bf0f04f9bcfb770366681712"},
		{"normalize then hash", "", "lowercase_trim", "sha256", `{"v":"  Test@Example.COM "}`, "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"},
		{"trim then hash", "", "trim", "sha256", `{"v":" test\u00a0"}`, testSum},
		{"lowercase then hash", "", "lowercase", "sha256", `{"v":"TEST"}`, testSum},
		{"a digest passes through", "", "", "sha256", `{"v":"` + testSum + `"}`, testSum},
		{"an upper-case digest passes through as it is", "", "lowercase_trim", "sha256", `{"v":"` + testUpper + `"}`, testUpper},
		{"a digest with white space is normalized and hashed", "", "trim", "sha256", `{"v":" ` + testSum + ` "}`, testSumSum},
		{"63 hex digits are hashed", "", "", "sha256", `{"v":"` + testSum[:63] + `"}`, "hashed"},
		{"65 hex digits are hashed", "", "", "sha256", `{"v":"` + testSum + `0"}`, "hashed"},
		{"sha256 of a number hashes its text", "", "", "sha256", `{"v":123}`, "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"},
		{"sha256 of a boolean hashes its text", "", "", "sha256", `{"v":true}`, "b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b"},
		{"sha256 of an object hashes its JSON", "", "", "sha256", `{"v":{"a":1}}`, "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"},
		{"sha256 leaves null empty", "", "", "sha256", `{"v":null}`, ""},
		{"sha256 leaves an empty value empty", "", "", "sha256", `{"v":""}`, ""},
		{"sha256 leaves a blank value empty", "", "", "sha256", `{"v":" \u00a0\t"}`, ""},
		{"sha256 leaves a missing value empty", "", "", "sha256", `{}`, ""},
		{"alias sha256", format.TransformSHA256, "", "", `{"v":"abc"}`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"alias normalize is lowercase_trim", format.TransformNormalize, "", "", `{"v":" ÉCOLE "}`, "école"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "hashed" {
				var v struct{ V string }
				if err := json.Unmarshal([]byte(tt.event), &v); err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256([]byte(v.V))
				want = hex.EncodeToString(sum[:])
			}
			// The fast path (a plain path over the stored bytes) and the
			// decoded path (a JMESPath expression) write the same cell.
			for _, value := range []string{"$.v", "v"} {
				f := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{
					{Name: "v", Value: value, Transform: tt.transform, Normalize: tt.normalize, Hash: tt.hash}}})
				if got := MustEncodeAll(t, f, MustEvent(t, tt.event)); got != "v\n\""+want+"\"" {
					t.Errorf("%s: got %q, want %q", value, got, "v\n\""+want+"\"")
				}
			}
		})
	}
}

func TestTableValues(t *testing.T) {
	event := `{"type":"track","event":"Order Completed",
		"properties":{"total":9007199254740993,"a b":"spaced","x.y":"dotted","order-id":"o-1",
			"items":[{"sku":"a","price":10.5},{"sku":"b","price":20}],"q'uote":"q"},
		"traits":{"email":""},"context":{"traits":{"email":"ctx@example.com"}},"tags":["t0","t1","t2"]}`
	tests := []struct {
		name  string
		value string
		want  string // the cell, unquoted
	}{
		{"dot path", "$.properties.total", "9007199254740993"},
		{"bracket single quotes", "$.properties['a b']", "spaced"},
		{"bracket double quotes with a dot", `$.properties["x.y"]`, "dotted"},
		{"bracket with escaped quote", `$.properties['q\'uote']`, "q"},
		{"hyphenated key", "$.properties.order-id", "o-1"},
		{"index", "$.tags[1]", "t1"},
		{"negative index", "$.tags[-1]", "t2"},
		{"index out of range", "$.tags[5]", ""},
		{"index into an object", "$.properties[0]", ""},
		{"key of a string", "$.event.name", ""},
		{"path to an array element", "$.properties.items[0]", `{""price"":10.5,""sku"":""a""}`},
		{"JMESPath field chain keeps exact numbers", "properties.total", "9007199254740993"},
		{"JMESPath quoted field", `properties."a b"`, "spaced"},
		{"JMESPath not_null keeps an existing empty string", "not_null(traits.email, context.traits.email)", ""},
		{"JMESPath not_null falls back", "not_null(traits.phone, context.traits.email)", "ctx@example.com"},
		{"JMESPath or skips empty strings", "traits.email || context.traits.email", "ctx@example.com"},
		{"JMESPath filter on numbers", "properties.items[?price > `15`].sku", `[""b""]`},
		{"JMESPath comparison on a large json.Number", "properties.total > `1`", "true"},
		{"JMESPath sum of json.Numbers", "sum(properties.items[*].price)", "30.5"},
		{"JMESPath length", "length(properties.items)", "2"},
		{"JMESPath join", "join('/', [type, event])", "track/Order Completed"},
		{"JMESPath projection", "properties.items[*].sku", `[""a"",""b""]`},
		{"JMESPath multiselect hash", "{t: type, n: properties.total}", `{""n"":9007199254740993,""t"":""track""}`},
		{"JMESPath root after a failed path parse", "$.properties.items[?sku == 'a'].price | [0]", "10.5"},
		{"JMESPath runtime error is empty", "abs(event)", ""},
		{"JMESPath literal", "`\"fixed\"`", "fixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: tt.value}}})
			want := "v\n\"" + tt.want + "\""
			if got := MustEncodeAll(t, f, MustEvent(t, event)); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestTableGzip(t *testing.T) {
	spec := format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: "$.v"}}, BatchSizeColumn: "n"}
	plain := MustCompile(t, spec)
	spec.Compression = format.Gzip
	zipped := MustCompile(t, spec)
	events := []map[string]any{MustEvent(t, `{"v":"a\"b"}`), MustEvent(t, `{"v":"🎉"}`)}
	want := MustEncodeAll(t, plain, events...)
	got, err := zipped.EncodeAll(events)
	if err != nil {
		t.Fatalf("EncodeAll: %v", err)
	}
	if !bytes.HasPrefix(got, []byte{0x1f, 0x8b}) {
		t.Fatalf("got %x, want a gzip stream", got[:2])
	}
	if got := MustGunzip(t, got); got != want {
		t.Errorf("gunzipped: got %q, want %q", got, want)
	}
	checkObjectHeaders(t, zipped, "csv.gz", "text/csv", "gzip")
}

func TestEncoderRowCount(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: "$.v"}}})
	ev := MustEvent(t, `{"v":1}`)

	var buf bytes.Buffer
	enc, err := f.NewEncoder(&buf, 1)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	if got := buf.String(); got != "v\n" {
		t.Errorf("after NewEncoder: got %q, want the header %q", got, "v\n")
	}
	if err := enc.Encode(ev); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if err := enc.Encode(ev); err == nil {
		t.Error("Encode past the declared rows: got nil error, want one")
	}

	enc, err = f.NewEncoder(&bytes.Buffer{}, 2)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	if err := enc.Encode(ev); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if err := enc.Close(); err == nil || !strings.Contains(err.Error(), "2 rows") {
		t.Errorf("Close short of the declared rows: got %v, want an error naming 2 rows", err)
	}

	if _, err := f.NewEncoder(&bytes.Buffer{}, -1); err == nil {
		t.Error("NewEncoder(-1): got nil error, want one")
	}
	obj := MustCompile(t, format.Spec{Format: format.JSON})
	if _, err := obj.NewEncoder(&bytes.Buffer{}, 1); err == nil {
		t.Error("NewEncoder on the json format: got nil error, want one")
	}
}

// failWriter fails every write, as a broken upload pipe would.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errTest }

var errTest = errors.New("write failed")

func TestEncoderWriteError(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL})
	if _, err := f.NewEncoder(failWriter{}, 1); err != nil {
		t.Fatalf("NewEncoder without header: %v", err)
	}
	enc, _ := f.NewEncoder(failWriter{}, 1)
	err := enc.Encode(MustEvent(t, `{}`))
	if !errors.Is(err, errTest) {
		t.Fatalf("Encode: got %v, want the writer's error", err)
	}
	if again := enc.Close(); again != err {
		t.Errorf("Close after a failed Encode: got %v, want the same error %v", again, err)
	}
	table := MustCompile(t, format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "v", Value: "$.v"}}})
	if _, err := table.NewEncoder(failWriter{}, 1); err == nil {
		t.Error("NewEncoder with a failing header write: got nil error, want one")
	}
}
