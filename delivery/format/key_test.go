package format_test

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
)

// sealed is 2024-01-02T03:04:05.678Z: Unix ms 1704164645678, its UTC day
// starts at 1704153600000. The suffixes are the first 12 hex digits of
// SHA-256("del_01") and SHA-256("del_02").
var sealed = time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)

const (
	suffix01 = "9e4e12dc7250"
	suffix02 = "40ca87ac552e"
)

var cols = []format.Column{{Name: "v", Value: "$.v"}}

func TestKeyPresets(t *testing.T) {
	in := format.KeyInput{Time: sealed, FileID: "del_01", SourceID: "src_1", Type: "track", Event: "Order Completed"}
	tests := []struct {
		name string
		spec format.Spec
		in   format.KeyInput
		want string
	}{
		{"segment actions, folder only",
			format.Spec{Format: format.CSV, Columns: cols, Folder: "segmentdata/"}, in,
			"segmentdata/2024-01-02T03-04-05-678Z_" + suffix01 + ".csv"},
		{"segment actions is the default, slash appended to the folder",
			format.Spec{Format: format.CSV, Columns: cols, Folder: "segmentdata"}, in,
			"segmentdata/2024-01-02T03-04-05-678Z_" + suffix01 + ".csv"},
		{"segment actions, path prefix, folder and filename prefix",
			format.Spec{Format: format.TXT, Columns: cols, KeyPreset: format.PresetSegmentActions,
				PathPrefix: "/raw", Folder: "/segmentdata/audiences/", FilenamePrefix: "export"}, in,
			"raw/segmentdata/audiences/export_2024-01-02T03-04-05-678Z_" + suffix01 + ".txt"},
		{"segment actions, prefix ending in the extension",
			format.Spec{Format: format.CSV, Columns: cols, FilenamePrefix: "export.csv"}, in,
			"export_2024-01-02T03-04-05-678Z_" + suffix01 + ".csv"},
		{"segment actions, gzip",
			format.Spec{Format: format.CSV, Columns: cols, Compression: format.Gzip, FilenamePrefix: "export.csv"}, in,
			"export_2024-01-02T03-04-05-678Z_" + suffix01 + ".csv.gz"},
		{"segment actions, jsonl, no folder",
			format.Spec{Format: format.JSONL}, in,
			"2024-01-02T03-04-05-678Z_" + suffix01 + ".jsonl"},
		{"time is written in UTC",
			format.Spec{Format: format.JSONL}, format.KeyInput{Time: sealed.In(time.FixedZone("X", -5*3600)), FileID: "del_01"},
			"2024-01-02T03-04-05-678Z_" + suffix01 + ".jsonl"},
		{"segment classic",
			format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic,
				Folder: "ignored", FilenamePrefix: "ignored"}, in,
			"segment-logs/src_1/1704153600000/1704164645678_" + suffix01 + ".jsonl.gz"},
		{"segment classic under the path prefix",
			format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic,
				PathPrefix: "path/prefix"}, in,
			"path/prefix/segment-logs/src_1/1704153600000/1704164645678_" + suffix01 + ".jsonl.gz"},
		{"hive",
			format.Spec{Format: format.CSV, Columns: cols, KeyPreset: format.PresetHive, Folder: "events"}, in,
			"events/dt=2024-01-02/hour=03/2024-01-02T03-04-05-678Z_" + suffix01 + ".csv"},
		{"hive with filename prefix",
			format.Spec{Format: format.JSONL, KeyPreset: format.PresetHive, FilenamePrefix: "part"}, in,
			"dt=2024-01-02/hour=03/part_2024-01-02T03-04-05-678Z_" + suffix01 + ".jsonl"},
		{"custom, every token",
			format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetCustom, PathPrefix: "p",
				KeyTemplate: "{yyyy}/{mm}/{dd}/{hh}/{mi}/{ss}/{ms}/{date}/{timestamp}/{unix}/{unix_ms}/{day_ms}/{source_id}/{type}/{event}/{file_id}-{suffix}.{ext}"},
			in,
			"p/2024/01/02/03/04/05/678/2024-01-02/2024-01-02T03-04-05-678Z/1704164645/1704164645678/1704153600000/src_1/track/order_completed" + hash8("Order Completed") + "/del_01-" + suffix01 + ".jsonl.gz"},
		{"custom, sanitised names",
			format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{source_id}/{type}/{event}/{file_id}"},
			format.KeyInput{Time: sealed, FileID: "a b/c", SourceID: "..", Type: "", Event: "  Checkout: Step #2 — Payment 💳 "},
			"_/unknown/checkout_step_2_payment" + hash8("  Checkout: Step #2 — Payment 💳 ") + "/a_b_c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MustCompile(t, tt.spec).Key(tt.in)
			if err != nil {
				t.Fatalf("Key: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// Two files of one mapping sealed in the same millisecond must not share a
// key, and a retry of one file must keep its key.
func TestKeyCollision(t *testing.T) {
	specs := map[string]format.Spec{
		"segment actions": {Format: format.CSV, Columns: cols, Folder: "segmentdata"},
		"segment classic": {Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic},
		"hive":            {Format: format.JSONL, KeyPreset: format.PresetHive},
		"custom suffix":   {Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{date}/{unix_ms}-{suffix}.{ext}"},
		"custom file id":  {Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{date}/{unix_ms}-{file_id}.{ext}"},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			f := MustCompile(t, spec)
			key := func(id string, at time.Time) string {
				t.Helper()
				k, err := f.Key(format.KeyInput{Time: at, FileID: id, SourceID: "src_1", Type: "track"})
				if err != nil {
					t.Fatalf("Key(%s): %v", id, err)
				}
				return k
			}
			a, b := key("del_01", sealed), key("del_02", sealed.Add(400*time.Microsecond))
			if a == b {
				t.Errorf("files del_01 and del_02 of the same millisecond share the key %q", a)
			}
			if again := key("del_01", sealed); again != a {
				t.Errorf("retry of del_01: got %q, want the same key %q", again, a)
			}
		})
	}
	f := MustCompile(t, format.Spec{Format: format.CSV, Columns: cols})
	a, _ := f.Key(format.KeyInput{Time: sealed, FileID: "del_01"})
	b, _ := f.Key(format.KeyInput{Time: sealed, FileID: "del_02"})
	if want := "2024-01-02T03-04-05-678Z_" + suffix02 + ".csv"; b != want || a == b {
		t.Errorf("got %q and %q, want %q for del_02", a, b, want)
	}
}

func TestKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		spec format.Spec
		in   format.KeyInput
		want string
	}{
		{"file id required", format.Spec{Format: format.JSONL}, format.KeyInput{Time: sealed}, "file id"},
		{"time required", format.Spec{Format: format.JSONL}, format.KeyInput{FileID: "f"}, "time"},
		{"source id required by classic", format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic},
			format.KeyInput{Time: sealed, FileID: "f"}, "source id"},
		{"too long", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{event}/{file_id}"},
			format.KeyInput{Time: sealed, FileID: "f", Event: strings.Repeat("e", 1100)}, "1,024"},
		{"json format", format.Spec{Format: format.JSON}, format.KeyInput{Time: sealed, FileID: "f"}, "use Object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := MustCompile(t, tt.spec).Key(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, %v; want an error containing %q", key, err, tt.want)
			}
		})
	}
}

func TestKeyFields(t *testing.T) {
	tests := []struct {
		spec format.Spec
		want format.KeyFields
	}{
		{format.Spec{Format: format.CSV, Columns: cols}, format.KeyFields{}},
		{format.Spec{Format: format.JSONL, KeyPreset: format.PresetHive}, format.KeyFields{}},
		{format.Spec{Format: format.JSONL, Compression: format.Gzip, KeyPreset: format.PresetSegmentClassic}, format.KeyFields{Source: true}},
		{format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{type}/{file_id}"}, format.KeyFields{Type: true}},
		{format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{source_id}/{event}/{suffix}"}, format.KeyFields{Source: true, Event: true}},
	}
	for _, tt := range tests {
		if got := MustCompile(t, tt.spec).KeyFields(); got != tt.want {
			t.Errorf("%+v: got %+v, want %+v", tt.spec, got, tt.want)
		}
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key  string
		want string // "" for a valid key, else part of the error
	}{
		{"segmentdata/2024-01-02T03-04-05-678Z_abc.csv", ""},
		{"a/b.c/..d/d..", ""},
		{"日本/🎉.json", ""},
		{strings.Repeat("a", 1024), ""},
		{strings.Repeat("é", 512), ""},
		{"", "empty"},
		{strings.Repeat("a", 1025), "1025 bytes"},
		{strings.Repeat("é", 513), "1026 bytes"},
		{"/leading", `starts with "/"`},
		{"a//b", `"//"`},
		{"a/../b", `".."`},
		{"../b", `".."`},
		{"a/..", `".."`},
		{"a/./b", `"."`},
		{"a\xffb", "UTF-8"},
	}
	for _, tt := range tests {
		err := format.ValidateKey(tt.key)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateKey(%.40q): got %v, want nil", tt.key, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateKey(%.40q): got %v, want an error containing %q", tt.key, err, tt.want)
		}
	}
}

func TestKeyWarnings(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"segmentdata/dt=2024-01-02/file_1.csv", nil},
		{"a b", []string{"contains a space"}},
		{"a+b", []string{`contains "+", which some tools read as a space`}},
		{"a#b", []string{`contains "#", which ends a URL path`}},
		{"a?b", []string{`contains "?", which starts a URL query`}},
		{"a%20b", []string{`contains "%", which starts a URL escape`}},
		{"2024-01-02T03:04:05.6Z_e.json", []string{`contains ":", which Windows paths, Hadoop and Spark paths and some sync tools refuse or mangle`}},
		{`a\b`, []string{`contains "\", a path separator on Windows`}},
		{"a\tb\x7f", []string{"contains control characters"}},
		{"café", []string{"contains non-ASCII characters"}},
		{"dir/", []string{`ends with "/", so consoles show it as a folder`}},
		{"Order Completed+#1 é", []string{"contains a space", `contains "+", which some tools read as a space`,
			`contains "#", which ends a URL path`, "contains non-ASCII characters"}},
	}
	for _, tt := range tests {
		if got := format.KeyWarnings(tt.key); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("KeyWarnings(%q): got %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestKeyTokensDocumented(t *testing.T) {
	// Every documented token must expand, so the list and the expander agree.
	for _, tok := range format.KeyTokens() {
		spec := format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "x" + tok.Token + "/{file_id}"}
		f, err := format.Compile(spec)
		if err != nil {
			t.Errorf("token %s: %v", tok.Token, err)
			continue
		}
		key, err := f.Key(format.KeyInput{Time: sealed, FileID: "del_01", SourceID: "s", Type: "track", Event: "e"})
		if err != nil || strings.HasPrefix(key, "x/") || strings.Contains(key, "{") {
			t.Errorf("token %s: got %q, %v; want it expanded to a value", tok.Token, key, err)
		}
	}
}

// hash8 is what marks a changed key component: '-' and the first 8 hex
// digits of the SHA-256 of the original value.
func hash8(original string) string {
	sum := sha256.Sum256([]byte(original))
	return "-" + hex.EncodeToString(sum[:])[:8]
}

// {event} transliterates instead of dropping letters, keeps names already
// in Segment's table form, and marks every other name with its hash.
func TestKeyEventToken(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{event}/{file_id}"})
	tests := []struct {
		event string
		want  string
	}{
		{"order_completed", "order_completed"},
		{"signup2", "signup2"},
		{"Order Completed", "order_completed" + hash8("Order Completed")},
		{"order completed", "order_completed" + hash8("order completed")},
		// The example: letters kept, accents stripped.
		{"Ünïcödé Event 🎉", "unicode_event" + hash8("Ünïcödé Event 🎉")},
		{"Straße Æblegrød Łódź", "strasse_aeblegrod_lodz" + hash8("Straße Æblegrød Łódź")},
		{"ｆｕｌｌ　ｗｉｄｔｈ", "full_width" + hash8("ｆｕｌｌ　ｗｉｄｔｈ")},
		{"🎉", "_" + hash8("🎉")},
		// Letters with no ASCII form are percent-encoded, not dropped.
		{"日本語", "%E6%97%A5%E6%9C%AC%E8%AA%9E" + hash8("日本語")},
		{"Заказ оформлен", "%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7_%D0%BE%D1%84%D0%BE%D1%80%D0%BC%D0%BB%D0%B5%D0%BD" + hash8("Заказ оформлен")},
		{"Ünï 日本 2", "uni_%E6%97%A5%E6%9C%AC_2" + hash8("Ünï 日本 2")},
		{"", "_"},
		{"_", "_" + hash8("_")},
	}
	for _, tt := range tests {
		key, err := f.Key(format.KeyInput{Time: sealed, FileID: "f", Event: tt.event})
		if err != nil {
			t.Fatalf("Key(%q): %v", tt.event, err)
		}
		if want := tt.want + "/f"; key != want {
			t.Errorf("{event} of %q: got %q, want %q", tt.event, key, want)
		}
	}
}

// Different event names never share a component, however alike they look.
func TestKeyEventTokenNoCollision(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{event}/{file_id}"})
	names := []string{"", "_", "unknown", "order_completed", "Order Completed", "order completed", "Order_Completed",
		"order-completed", "order  completed", "ORDER COMPLETED", "Ünïcödé Event 🎉", "Unicode Event", "unicode_event",
		"🎉", "🎈", "日本", "中国", "é", "e", "E", "Заказ", "заказ", "%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7"}
	seen := map[string]string{}
	for _, n := range names {
		key, err := f.Key(format.KeyInput{Time: sealed, FileID: "f", Event: n})
		if err != nil {
			t.Fatalf("Key(%q): %v", n, err)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("%q and %q share the key %q", n, other, key)
		}
		seen[key] = n
	}
}

func TestKeyChanges(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{event}/{file_id}"})
	if got := f.KeyChanges(format.KeyInput{Event: "order_completed"}); got != nil {
		t.Errorf("canonical name: got %q, want none", got)
	}
	got := f.KeyChanges(format.KeyInput{Event: "Ünïcödé Event 🎉"})
	want := []string{`{event}: the event name "Ünïcödé Event 🎉" is written as "unicode_event` + hash8("Ünïcödé Event 🎉") + `"`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	plain := MustCompile(t, format.Spec{Format: format.JSONL})
	if got := plain.KeyChanges(format.KeyInput{Event: "Ünïcödé Event 🎉"}); got != nil {
		t.Errorf("layout without {event}: got %q, want none", got)
	}
}
