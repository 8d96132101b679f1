package match_test

import (
	"encoding/json"
	"testing"
)

// matchTests run against orderEvent.
var matchTests = []struct {
	trigger string
	want    bool
}{
	// Equality on strings.
	{`type = "track"`, true},
	{`type = 'track'`, true},
	{`type = "identify"`, false},
	{`type = "Track"`, false},
	{`event = "Order Completed"`, true},
	{`messageId = "m-1"`, true},
	{`userId != "u2"`, true},
	{`userId != "u1"`, false},

	// Numbers compare by type, as in Segment: its parser (parse-fql.ts)
	// turns = and != followed by an unquoted number on a property, trait or
	// context path into number_equals / number_not_equals, and a quoted
	// value stays a string. So "100" is not 100, and 100.0 is 100 (one JSON
	// number).
	{`properties.total = 100`, true},
	{`properties.total = "100"`, false},
	{`properties.total = 100.0`, true},
	{`properties.total = "100.0"`, false},
	{`properties.total = 1e2`, true},
	{`properties.total = 101`, false},
	{`properties.total = "0100"`, false},
	{`properties.total != "100"`, true},
	{`properties.total != 100`, false},
	{`properties.total != 101`, true},
	{`properties.count = 7`, false},
	{`properties.count = "7"`, true},
	{`properties.count != 7`, false},
	{`properties.count != "7"`, false},
	{`properties.price = 12.5`, false},
	{`properties.price = "12.50"`, true},
	{`properties.price = "12.5"`, false},
	{`properties.zero = 0`, true},
	{`properties.zero = -0`, true},
	{`properties.zero = "0"`, false},
	{`properties.big = 1e21`, true},
	{`properties.neg = -3.5`, true},
	// Number-not-equals needs a number: a missing, null or string field is
	// not != 456. String != still matches a missing field.
	{`properties.missing != 456`, false},
	{`properties.nil != 456`, false},
	{`properties.name != 456`, false},
	{`properties.vip != 1`, false},
	{`properties.missing != "456"`, true},

	// Booleans: = true and = false are Segment's is_true / is_false and
	// match JSON booleans only; "true" in quotes is a string.
	{`properties.vip = true`, true},
	{`properties.vip = "true"`, false},
	{`properties.vip = false`, false},
	{`properties.vipText = true`, false},
	{`properties.vipText = "true"`, true},
	{`properties.off = false`, true},
	{`properties.off = "false"`, false},
	{`properties.off != true`, true},
	{`properties.vip != "true"`, true},
	{`properties.vipText != true`, true},
	{`properties.missing != true`, true},
	{`properties.vip is_true`, true},
	{`properties.vipText is_true`, false},
	{`properties.off is_false`, true},
	{`properties.vip is_false`, false},
	{`properties.total is_true`, false},
	{`properties.zero is_false`, false},
	{`properties.empty is_false`, false},
	{`properties.missing is_true`, false},
	{`properties.missing is_false`, false},
	{`properties.nil is_false`, false},

	// Top-level fields are strings; Segment's parser turns a number after
	// type, event, name or userId into its text, so userId = 1 is "1".
	{`userId = "u1"`, true},
	{`messageId = 1`, false},

	// Missing fields, nulls, objects and arrays. = null and != null are
	// not_exists and exists (Segment's fql.test.ts "support exists for event
	// property" / "support not_exists ..."), and a null field does not exist
	// (validate.test.ts "operators - exists": {value: null} is false).
	{`properties.missing = "x"`, false},
	{`properties.missing != "x"`, true},
	{`properties.nil = "null"`, false},
	{`properties.nil != "x"`, true},
	{`properties.obj = "x"`, false},
	{`properties.obj != "x"`, true},
	{`properties.tags = "a"`, false},
	{`properties.nil = null`, true},
	{`properties.nil != null`, false},
	{`properties.missing exists`, false},
	{`properties.missing not_exists`, true},
	{`properties.nil exists`, false},
	{`properties.nil not_exists`, true},
	{`properties.empty exists`, true},
	{`properties.obj exists`, true},
	{`anonymousId exists`, false},
	{`anonymousId not_exists`, true},
	{`topic exists`, false},
	{`traits exists`, false},
	{`traits.plan != "free"`, true},
	{`properties exists`, true},

	// Numeric comparisons take JSON numbers only, not numeric strings.
	{`properties.total > 99`, true},
	{`properties.total > 100`, false},
	{`properties.total >= 100`, true},
	{`properties.total < 100`, false},
	{`properties.total < 100.5`, true},
	{`properties.total <= 100`, true},
	{`properties.price > 12.4`, false},
	{`properties.price < 12.5`, false},
	{`properties.price <= 12.5`, false},
	{`properties.count >= 7`, false},
	{`properties.neg < -3`, true},
	{`properties.big >= 1e21`, true},
	{`properties.zero >= 0`, true},
	{`properties.name > 1`, false},
	{`properties.name < 1`, false},
	{`properties.empty < 1`, false},
	{`properties.missing < 1`, false},
	{`properties.missing >= 1`, false},
	{`properties.nil < 1`, false},
	{`properties.vip > 0`, false},
	{`properties.off < 1`, false},
	{`properties.tags > 0`, false},
	{`properties.obj > 0`, false},
	{`context.library.version > 0.5`, false},
	{`properties.exp > 999`, false},
	{`properties.exp = 1000`, false},
	{`properties.exp = "1e3"`, true},
	{`properties.zeros < 10`, false},
	{`properties.zeros = 7`, false},
	{`properties.zeros = "007"`, true},
	{`properties.sloppy < 2`, false},

	// contains on strings (validate.test.ts "operators - contains": "abc"
	// contains "b") and, an s3relay addition, arrays, whose elements compare
	// by type. Segment's parser writes the value as String(value), so a
	// number is looked for as its text in a string.
	{`properties.name contains "crème"`, true},
	{`properties.name contains "☕"`, true},
	{`properties.name contains "creme"`, false},
	{`properties.name not_contains "x"`, true},
	{`properties.name not_contains "Café"`, false},
	{`properties.empty contains ""`, true},
	{`properties.tags contains "a"`, true},
	{`properties.tags contains 3`, true},
	{`properties.tags contains "3"`, false},
	{`properties.tags contains true`, true},
	{`properties.tags contains "true"`, false},
	{`properties.tags not_contains "3"`, true},
	{`properties.tags not_contains 3`, false},
	{`properties.name contains 3`, false},
	{`properties.code contains 1`, true},
	{`properties.tags contains "c"`, false},
	{`properties.tags contains "nu"`, false},
	{`properties.tags not_contains "c"`, true},
	{`properties.tags not_contains "a"`, false},
	{`properties.total contains "1"`, false},
	{`properties.total not_contains "1"`, false},
	{`properties.missing contains "a"`, false},
	{`properties.missing not_contains "a"`, false},
	{`properties.nil not_contains "a"`, false},
	{`properties.obj not_contains "a"`, false},

	// Prefixes and suffixes.
	{`event starts_with "Order"`, true},
	{`event starts_with "order"`, false},
	{`event ends_with "Completed"`, true},
	{`event not_starts_with "Order"`, false},
	{`event not_starts_with "Cart"`, true},
	{`event not_ends_with "x"`, true},
	{`event not_ends_with "Completed"`, false},
	{`properties.name starts_with "Café"`, true},
	{`properties.name ends_with "crème"`, true},
	{`properties.total starts_with "1"`, false},
	{`properties.missing not_starts_with "x"`, false},
	{`properties.missing not_ends_with "x"`, false},
	{`properties.tags starts_with "a"`, false},

	// Segment's spellings.
	{`contains(event, "Comp")`, true},
	{`!contains(event, "Comp")`, false},
	{`match(event, "Order*")`, true},
	{`match(event, "*Completed")`, true},
	{`match(event, "*der Com*")`, true},
	{`match(event, "Order Completed")`, true},
	{`match(event, "Order")`, false},
	{`!match(event, "Foo*")`, true},
	{`contains(properties.tags, "b")`, true},

	// Paths.
	{`context.library.name = "analytics.js"`, true},
	{`properties.nested.deep.x = 1`, true},
	{`properties.nested.deep.y exists`, false},
	{`properties.nested.deep.x.y exists`, false},
	{`properties.products.1.sku = "S2"`, true},
	{`properties.products.2.sku exists`, false},
	{`properties.products.01.sku exists`, false},
	{`properties.tags.0 = "a"`, true},
	{`properties.tags.4 exists`, false},
	{`properties.tags.x exists`, false},
	{`properties.first\ name = "Ann"`, true},
	{`properties.a\.b = "dot"`, true},
	{`properties.a.b exists`, false},
	{`properties.name.x exists`, false},
	{`properties.name = "Café ☕ crème"`, true},
	{`properties.name = "Caf\u00e9 \u2615 cr\u00e8me"`, true},

	// Precedence: and binds tighter than or.
	{`type = "identify" and event = "x" or userId = "u1"`, true},
	{`userId = "u1" or type = "identify" and event = "x"`, true},
	{`(userId = "u1" or type = "identify") and event = "x"`, false},
	{`type = "track" and (event = "x" or event = "Order Completed")`, true},
	{`type = "track" and event = "x" or event = "y"`, false},
	{`type = "identify" or type = "track" and properties.total > 50`, true},
	{`(type = "identify" or type = "track") and properties.total > 500`, false},
}

func TestMatch(t *testing.T) {
	for _, useNumber := range []bool{false, true} {
		event := MustDecode(t, orderEvent, useNumber)
		for _, tt := range matchTests {
			if got := MustParse(t, tt.trigger).Match(event); got != tt.want {
				t.Errorf("useNumber=%v: %q Match = %v, want %v", useNumber, tt.trigger, got, tt.want)
			}
		}
	}
}

func TestMatchGoNumbers(t *testing.T) {
	event := map[string]any{
		"properties": map[string]any{
			"int": 5, "int64": int64(5), "int32": int32(5), "uint64": uint64(5), "float32": float32(5),
			"number": json.Number("5.0"), "bad": json.Number("five"),
		},
	}
	tests := []struct {
		trigger string
		want    bool
	}{
		{`properties.int = 5`, true},
		{`properties.int64 >= 5`, true},
		{`properties.int32 < 6`, true},
		{`properties.uint64 = 5`, true},
		{`properties.uint64 = "5"`, false},
		{`properties.float32 > 4.5`, true},
		{`properties.number = 5`, true},
		{`properties.number = "5"`, false},
		{`properties.number = 5.0`, true},
		{`properties.number != 5`, false},
		{`properties.number != 6`, true},
		{`properties.bad != 6`, false},
		{`properties.bad = 5`, false},
		{`properties.bad < 6`, false},
	}
	for _, tt := range tests {
		if got := MustParse(t, tt.trigger).Match(event); got != tt.want {
			t.Errorf("%q Match = %v, want %v", tt.trigger, got, tt.want)
		}
	}
}

// TestMatchTopLevelNumbers: Segment's parser (parse-fql.ts) writes the value
// after type, event, name and userId as a string, String(value), so a
// number there compares as its text, with a string field only.
func TestMatchTopLevelNumbers(t *testing.T) {
	tests := []struct {
		event   string
		trigger string
		want    bool
	}{
		{`{"userId": "123"}`, `userId = 123`, true},
		{`{"userId": "123"}`, `userId = 123.0`, true},
		{`{"userId": "123"}`, `userId != 123`, false},
		{`{"userId": 123}`, `userId = 123`, false},
		{`{"userId": 123}`, `userId = "123"`, false},
		{`{"userId": 123}`, `userId != 123`, true},
		{`{}`, `userId != 123`, true},
		{`{"event": "404"}`, `event = 404`, true},
		{`{"name": "1"}`, `match(name, "1")`, true},
		{`{"anonymousId": "7"}`, `anonymousId = 7`, true},
	}
	for _, tt := range tests {
		if got := MustParse(t, tt.trigger).Match(MustDecode(t, tt.event, false)); got != tt.want {
			t.Errorf("%q Match(%s) = %v, want %v", tt.trigger, tt.event, got, tt.want)
		}
	}
}

func TestMatchEmptyAndNilEvents(t *testing.T) {
	tests := []struct {
		trigger string
		want    bool
	}{
		{`type = "track"`, false},
		{`type != "track"`, true},
		{`type not_exists`, true},
		{`properties.x < 1`, false},
		{`properties.x not_contains "a"`, false},
	}
	for _, event := range []map[string]any{nil, {}} {
		for _, tt := range tests {
			if got := MustParse(t, tt.trigger).Match(event); got != tt.want {
				t.Errorf("%q Match(%v) = %v, want %v", tt.trigger, event, got, tt.want)
			}
		}
	}
}

func TestMatchDefault(t *testing.T) {
	trig := MustParse(t, `type = "track" or type = "identify"`)
	want := []bool{true, true, false, false, false, false, false, false}
	for i, src := range sampleEvents {
		if got := trig.Match(MustDecode(t, src, false)); got != want[i] {
			t.Errorf("Default on sample %d: Match = %v, want %v", i, got, want[i])
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	for _, useNumber := range []bool{false, true} {
		event := MustDecode(t, orderEvent, useNumber)
		for _, bt := range benchTriggers {
			trig := MustParse(t, bt.src)
			if allocs := testing.AllocsPerRun(100, func() { trig.Match(event) }); allocs != 0 {
				t.Errorf("useNumber=%v: %q allocates %v times per Match, want 0", useNumber, bt.src, allocs)
			}
		}
	}
}

// benchTriggers are typical triggers, from simple to busy.
var benchTriggers = []struct{ name, src string }{
	{"default", `type = "track" or type = "identify"`},
	{"event", `event = "Order Completed"`},
	{"number", `properties.total >= 100`},
	{"numeric-string", `properties.price > 12`},
	{"nested-prefix", `context.library.name starts_with "analytics"`},
	{"array-contains", `properties.tags contains 3`},
	{"array-index", `properties.products.1.sku = "S2"`},
	{"missing", `properties.missing != "x"`},
	{"busy", `type = "track" and (event = "Order Completed" or event = "Checkout Started") and properties.total > 50 and properties.vip is_true`},
}

func BenchmarkMatch(b *testing.B) {
	for _, decoding := range []string{"float64", "json.Number"} {
		event := MustDecode(b, orderEvent, decoding == "json.Number")
		for _, bt := range benchTriggers {
			trig := MustParse(b, bt.src)
			b.Run(decoding+"/"+bt.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					trig.Match(event)
				}
			})
		}
	}
}
