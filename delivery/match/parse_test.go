package match_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/match"
)

// validTriggers maps source text to its canonical String.
var validTriggers = []struct {
	src, want string
}{
	{match.Default, match.Default},
	{`type = "track"`, `type = "track"`},
	{`  type="track"  `, `type = "track"`},
	{"type\t=\n'track'\r\n", `type = "track"`},
	{`type="a"and event="b"`, `type = "a" and event = "b"`},
	{`event != "x"`, `event != "x"`},
	{`name = "Home"`, `name = "Home"`},
	{`userId = "u1" or anonymousId = "a1"`, `userId = "u1" or anonymousId = "a1"`},
	{`messageId = "m" and topic = "order.created"`, `messageId = "m" and topic = "order.created"`},

	// Precedence, flattening and parentheses.
	{`type = "a" and (event = "b" and name = "c")`, `type = "a" and event = "b" and name = "c"`},
	{`(type = "a" or event = "b") or name = "c"`, `type = "a" or event = "b" or name = "c"`},
	{`type = "a" and (event = "b" or name = "c")`, `type = "a" and (event = "b" or name = "c")`},
	{`(type = "a" and event = "b") or name = "c"`, `type = "a" and event = "b" or name = "c"`},
	{`type = "a" or event = "b" and name = "c"`, `type = "a" or event = "b" and name = "c"`},
	{`((type = "a"))`, `type = "a"`},
	{`(type = "a" or type = "b") and (event = "c" or (name = "d" and userId = "e"))`,
		`(type = "a" or type = "b") and (event = "c" or name = "d" and userId = "e")`},

	// Numbers.
	{`properties.x > +5`, `properties.x > 5`},
	{`properties.x >= -3.25`, `properties.x >= -3.25`},
	{`properties.x < 1E3`, `properties.x < 1000`},
	{`properties.x <= 2.50`, `properties.x <= 2.5`},
	{`properties.x = 007`, `properties.x = 7`},
	{`properties.x = -0`, `properties.x = 0`},
	{`properties.x = 1e21`, `properties.x = 1e+21`},
	{`properties.x = 0.000001`, `properties.x = 0.000001`},
	{`properties.x = 1.5e-7`, `properties.x = 1.5e-07`},
	{`properties.x = 12345678901234567890`, `properties.x = 12345678901234567000`},

	// Strings.
	{`event = "a\"b\\c\nd\u00e9\ud83d\ude00\/"`, `event = "a\"b\\c\ndé😀/"`},
	{`event = 'it\'s "quoted"'`, `event = "it's \"quoted\""`},
	{`event = "\b\f\r\t\u0001"`, `event = "\b\f\r\t\u0001"`},
	{`event = "\ud800"`, `event = "` + "\uFFFD" + `"`},
	{`event = ""`, `event = ""`},
	{`event = "注文 ✓"`, `event = "注文 ✓"`},

	// Values other than strings and numbers.
	{`properties.vip = true`, `properties.vip = true`},
	{`properties.vip != false`, `properties.vip != false`},
	{`properties.x = null`, `properties.x not_exists`},
	{`properties.x != null`, `properties.x exists`},

	// Every operator.
	{`properties.x contains "a"`, `properties.x contains "a"`},
	{`properties.x contains 3`, `properties.x contains 3`},
	{`properties.x not_contains "a"`, `properties.x not_contains "a"`},
	{`properties.x starts_with "a"`, `properties.x starts_with "a"`},
	{`properties.x ends_with "a"`, `properties.x ends_with "a"`},
	{`properties.x not_starts_with "a"`, `properties.x not_starts_with "a"`},
	{`properties.x not_ends_with "a"`, `properties.x not_ends_with "a"`},
	{`properties.x exists`, `properties.x exists`},
	{`properties.x not_exists`, `properties.x not_exists`},
	{`traits.vip is_true`, `traits.vip is_true`},
	{`context.vip is_false`, `context.vip is_false`},

	// Segment's function spellings.
	{`contains(event, "Comp")`, `event contains "Comp"`},
	{`!contains(properties.tags, "a")`, `properties.tags not_contains "a"`},
	{`match(event, "Order*")`, `event starts_with "Order"`},
	{`match(event, "*Completed")`, `event ends_with "Completed"`},
	{`match(event, "*der*")`, `event contains "der"`},
	{`match(event, "Order")`, `event = "Order"`},
	{`match(event, "*")`, `event ends_with ""`},
	{`! match(event, "Order*")`, `event not_starts_with "Order"`},
	{`!match(event, "*x")`, `event not_ends_with "x"`},
	{`!match(event, "*x*")`, `event not_contains "x"`},
	{`!match(event, "x")`, `event != "x"`},
	{`type = "track" and ( event = "Click" or match( event, 'Button *' ) )`,
		`type = "track" and (event = "Click" or event starts_with "Button ")`},

	// Paths.
	{`context.library.name = "analytics.js"`, `context.library.name = "analytics.js"`},
	{`properties.products.0.sku exists`, `properties.products.0.sku exists`},
	{`properties exists`, `properties exists`},
	{`properties.first\ name = "Ann"`, `properties.first\ name = "Ann"`},
	{`properties.a\.b = "x"`, `properties.a\.b = "x"`},
	{`properties.trailing\  exists`, `properties.trailing\  exists`},
	{`properties.\$browser exists`, `properties.\$browser exists`},
	{`properties.caf\é exists`, `properties.café exists`},
	{`properties.名前 = "x"`, `properties.名前 = "x"`},
	{`properties.snake_case-and-dash exists`, `properties.snake_case-and-dash exists`},
	{`properties.and.or.null exists`, `properties.and.or.null exists`},
	{`\type = "a"`, `type = "a"`},
}

func TestParseValid(t *testing.T) {
	for _, tt := range validTriggers {
		got, err := match.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.src, got.String(), tt.want)
		}
	}
}

// TestStringRoundTrip checks that String parses back to a trigger with the
// same text that matches the same events.
func TestStringRoundTrip(t *testing.T) {
	var events []map[string]any
	for _, src := range sampleEvents {
		events = append(events, MustDecode(t, src, false))
	}
	for _, tt := range validTriggers {
		first := MustParse(t, tt.src)
		second := MustParse(t, first.String())
		if got, want := second.String(), first.String(); got != want {
			t.Errorf("round trip of %q: got %q, want %q", tt.src, got, want)
		}
		for i, event := range events {
			if got, want := second.Match(event), first.Match(event); got != want {
				t.Errorf("round trip of %q on sample %d: Match = %v, want %v", tt.src, i, got, want)
			}
		}
	}
}

func TestParseInvalid(t *testing.T) {
	deep := strings.Repeat("(", 65) + `type = "a"` + strings.Repeat(")", 65)
	tests := []struct {
		src  string
		pos  int
		want string
	}{
		{"", 0, "empty"},
		{"  \n\t", 0, "empty"},
		{`type`, 4, "expected an operator after type"},
		{`type "a"`, 5, "expected an operator"},
		// Segment's fql.test.ts "should handle missing values" parses
		// `type = ` as type = "eos" (the lexer's end token), a bug; s3relay
		// reports it.
		{`type =`, 6, "expected a value after ="},
		{`type = `, 7, "expected a value after ="},
		{`type == "a"`, 6, "expected a value after ="},
		{`type = "a`, 7, "unterminated string"},
		{`type = 'a"`, 7, "unterminated string"},
		{`type = "a\`, 7, "unterminated string"},
		{`type = "a\q"`, 9, `invalid escape \q`},
		{`type = "\u12"`, 8, "four hex digits"},
		{`type = "\u12G4"`, 8, "four hex digits"},
		{`evnt = "a"`, 0, `unknown field "evnt"`},
		{`Type = "a"`, 0, "unknown field"},
		{`data.id = 1`, 0, "unknown field"},
		{`event.name = "a"`, 5, "event has no fields"},
		{`properties. = 1`, 11, "expected a key"},
		{`properties..x = 1`, 11, "expected a key"},
		{`properties.x\`, 12, `expected a character after \`},
		{`type = "a" and`, 14, "expected a condition, found end of trigger"},
		{`type = "a" or or type = "b"`, 14, `expected a condition, found "or"`},
		{`and type = "a"`, 0, `expected a condition, found "and"`},
		{`(type = "a"`, 11, `expected ")" to close "("`},
		{`type = "a")`, 10, `unmatched ")"`},
		{`()`, 1, "expected a condition"},
		{`type = "a" ()`, 11, `expected "and", "or" or the end of the trigger`},
		{`properties.x > "5"`, 15, "expected a number after >"},
		{`properties.x <= true`, 16, "expected a number after <="},
		{`properties.x contains null`, 22, "null can only follow = or !="},
		{`properties.x < null`, 15, "null can only follow"},
		{`properties.x exists 5`, 20, `expected "and", "or"`},
		{`properties.x is_true true`, 21, `expected "and", "or"`},
		{`properties.x = 1.`, 17, "after the decimal point"},
		{`properties.x = 1.2.3`, 18, `unexpected '.' after number`},
		{`properties.x = 12abc`, 17, `unexpected 'a' after number`},
		{`properties.x = -`, 16, "expected a digit"},
		{`properties.x = - 1`, 16, "expected a digit"},
		{`properties.x = 1e`, 17, "exponent"},
		{`properties.x = 1e999`, 15, "out of range"},
		{`properties.x = .5`, 15, `unexpected character '.'`},
		{`type = "a" & event = "b"`, 11, `unexpected character '&'`},
		{`type = "a" AND event = "b"`, 11, `found "AND"`},
		{`type = TRUE`, 7, "expected a value"},
		{`type = true false`, 12, `expected "and", "or"`},
		{`type = "a" ;`, 11, "unexpected character"},
		{"type = \xff", 7, "invalid UTF-8"},
		{"type = \"a\" and \xc3", 15, "invalid UTF-8"},
		{`!type = "a"`, 1, "expected contains( or match( after"},
		{`!(type = "a")`, 1, "expected contains( or match("},
		{`!`, 1, "expected contains( or match("},
		{`contains event, "a")`, 9, `expected "(" after contains`},
		{`contains(event "a")`, 15, `expected "," after event`},
		{`contains(event, "a"`, 19, `expected ")" to close contains(`},
		{`contains(event, null)`, 16, "cannot take null"},
		{`contains("a", event)`, 9, "expected a field"},
		{`contains(evnt, "a")`, 9, "unknown field"},
		{`contains(event,)`, 15, "expected a value after ,"},
		{`match(event, "a*b")`, 13, "only at the start or end"},
		{`match(event, "**a")`, 13, "only at the start or end"},
		{`match(event, 5)`, 13, "string pattern"},
		{`type = "a" contains`, 11, `expected "and", "or"`},
		{deep, 64, "more than 64 nested parentheses"},
	}
	for _, tt := range tests {
		trig, err := match.Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tt.src, trig)
			continue
		}
		var se *match.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T, want *match.SyntaxError", tt.src, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.want) {
			t.Errorf("Parse(%q) error at %d %q, want at %d containing %q", tt.src, se.Pos, se.Msg, tt.pos, tt.want)
		}
	}
}

func TestParseDepthLimitAllowsMaximum(t *testing.T) {
	src := strings.Repeat("(", 64) + `type = "a"` + strings.Repeat(")", 64)
	if got, want := MustParse(t, src).String(), `type = "a"`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		src          string
		line, column int
		text         string
	}{
		{`type =`, 1, 7, "column 7: expected a value after =, found end of trigger"},
		{`event = "éé" and x`, 1, 18, `column 18: unknown field "x"`},
		{"type = \"a\" and\n  evnt = 1", 2, 3, `line 2, column 3: unknown field "evnt"`},
		{"", 1, 1, "column 1: trigger is empty"},
	}
	for _, tt := range tests {
		_, err := match.Parse(tt.src)
		var se *match.SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Parse(%q) error = %v, want *match.SyntaxError", tt.src, err)
		}
		if se.Line != tt.line || se.Column != tt.column {
			t.Errorf("Parse(%q) at line %d column %d, want line %d column %d", tt.src, se.Line, se.Column, tt.line, tt.column)
		}
		if got := se.Error(); !strings.HasPrefix(got, tt.text) {
			t.Errorf("Parse(%q).Error() = %q, want prefix %q", tt.src, got, tt.text)
		}
	}
}

func TestParseRefusesLongTriggers(t *testing.T) {
	long := `event = "` + strings.Repeat("(", 500_000) + `"`
	_, err := match.Parse(long)
	var se *match.SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "at most 4096") {
		t.Errorf("Parse of %d bytes: %v, want a syntax error about the length", len(long), err)
	}
	if _, err := match.Parse(`event = "` + strings.Repeat("x", match.MaxLength-11) + `"`); err != nil {
		t.Errorf("a trigger of %d bytes: %v", match.MaxLength, err)
	}
}
