package match_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/match"
)

// FuzzParse checks that no input panics, that every error is a
// *SyntaxError positioned inside the input, and that String parses back to
// the same text.
//
//fuzz:budget 300000x
func FuzzParse(f *testing.F) {
	seeds := []string{
		match.Default,
		``, ` `, `(`, `)`, `!`, `"`, `'`, `\`, `.`, `-`, `1`, `=`,
		`type = "track"`,
		`type = 'track' and event = "Order Completed"`,
		`type = "a" or event = "b" and name = "c"`,
		`(type = "a" or type = "b") and (event = "c" or (name = "d" and userId = "e"))`,
		`properties.total >= -12.5e3 and properties.total < +1E21`,
		`properties.x = null or properties.y != null`,
		`properties.vip is_true and traits.off is_false`,
		`context.library.name starts_with "analytics" and not_ends_with`,
		`properties.tags contains 3 or properties.tags not_contains true`,
		`contains(event, "Comp") and !contains(properties.x, "y")`,
		`match(event, "Order*") or !match(event, "*x*") or match(name, "*")`,
		`properties.first\ name = "Ann" and properties.a\.b exists and properties.\$x exists`,
		`properties.products.0.sku = "S1"`,
		`event = "a\"b\\c\nd\u00e9\ud83d\ude00\ud800\/"`,
		`event = "注文 ✓" and properties.名前 exists`,
		"type = \"a\" and\n  evnt = 1",
		"type = \xff",
		`type = "a`, `type = "\u12"`, `type == "a"`, `properties.x = 1.2.3`,
		`properties.x = 1e999`, `properties.x > "5"`, `event.name = 1`,
		`((((type = "a"))))`, `type = "a" AND event = "b"`, `contains(event "a")`,
		`match(event, "a*b")`, `properties. = 1`, `properties.x\`,
		`properties.x = "100" or properties.y != 5 or traits.z = 'true' or userId = 12`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		trig, err := match.Parse(src)
		if err != nil {
			var se *match.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *match.SyntaxError", src, err, err)
			}
			if se.Pos < 0 || se.Pos > len(src) {
				t.Fatalf("Parse(%q) error at %d, outside [0, %d]: %v", src, se.Pos, len(src), err)
			}
			return
		}
		// The canonical text can be longer than the source (a control
		// character prints as \u001e): past MaxLength it is refused as too
		// long, like any trigger that size, and only then.
		text := trig.String()
		again, err := match.Parse(text)
		switch {
		case err != nil && len(text) > match.MaxLength && strings.Contains(err.Error(), "bytes long"):
		case err != nil:
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", src, text, err)
		case again.String() != text:
			t.Fatalf("Parse(%q).String() = %q, which prints back as %q", src, text, again.String())
		}
		trig.Types()
		for _, q := range trig.Quoted() {
			q.Message()
		}
		if conds, joiner, ok := trig.Conditions(); ok {
			if _, err := match.Build(conds, joiner); err != nil {
				t.Fatalf("Parse(%q).Conditions() = %q, %q does not build: %v", src, conds, joiner, err)
			}
		}
		trig.Match(map[string]any{"type": "track", "properties": map[string]any{"x": "y"}})
	})
}
