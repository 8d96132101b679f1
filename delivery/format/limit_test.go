package format_test

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/format"
)

// columnSpec is a csv mapping whose only column has the given value.
func columnSpec(value string) format.Spec {
	return format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "c", Value: value}}}
}

func TestExpressionBoundsAreCheckedBeforeParsing(t *testing.T) {
	bangs := strings.Repeat("!", 500_000)
	tests := []struct {
		name  string
		spec  format.Spec
		field string
		// message holds what the error must say.
		message string
	}{
		{"500,000 ! as a column value", columnSpec(bangs), "columns[0].value", "at most 4096"},
		{"500,000 ! as a $ column value", columnSpec("$" + bangs), "columns[0].value", "at most 4096"},
		{"500,000 ! as a json key template", format.Spec{Format: format.JSON, KeyTemplate: bangs}, "key_template", "at most 4096"},
		{"a long custom key template", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom,
			KeyTemplate: "{file_id}" + strings.Repeat("a", 500_000)}, "key_template", "at most 4096"},
		{"65 ! in 66 bytes", columnSpec(strings.Repeat("!", 65) + "a"), "columns[0].value", "more than 64 levels"},
		{"65 parentheses", columnSpec(strings.Repeat("(", 65) + "a" + strings.Repeat(")", 65)), "columns[0].value", "more than 64 levels"},
		{"65 projections", columnSpec(strings.Repeat("a[*].", 65) + "a"), "columns[0].value", "more than 64 levels"},
		{"65 pipes", columnSpec("a" + strings.Repeat("|a", 65)), "columns[0].value", "more than 64 levels"},
		{"65 exprefs", columnSpec(strings.Repeat("& ", 65) + "a"), "columns[0].value", "more than 64 levels"},
		{"65 unary minus signs", columnSpec(strings.Repeat("\u2212a*", 65) + "a"), "columns[0].value", "more than 64 levels"},
		{"65 lets", columnSpec(strings.Repeat("let $a in ", 65) + "a"), "columns[0].value", "more than 64 levels"},
		// The library's lexer panics on U+0080 after an identifier.
		{"U+0080 after a name", columnSpec("a\u0080"), "columns[0].value", "offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := format.Compile(tt.spec)
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			if got := fieldOf(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q lacks %q", err, tt.message)
			}
		})
	}
}

func TestExpressionsWithinTheBoundsCompile(t *testing.T) {
	for _, src := range []string{
		strings.Repeat("!", 63) + "a",
		strings.Repeat("(", 64) + "a" + strings.Repeat(")", 64),
		"a" + strings.Repeat("|a", 60),
		"$.a" + strings.Repeat("[0]", 500),
		"'" + strings.Repeat("((!", 1000) + "'",
		"`" + strings.Repeat("[", 1000) + "1" + strings.Repeat("]", 1000) + "`",
		"\"" + strings.Repeat("!", 4000) + "\"",
		"contains(properties.note, '\u00e9(')",
	} {
		if _, err := format.Compile(columnSpec(src)); err != nil {
			t.Errorf("%.40q...: %v", src, err)
		}
	}
}

// families are expression shapes that make the JMESPath parser or
// evaluator recurse once or more per repetition.
var families = map[string]func(n int) string{
	"nots":        func(n int) string { return strings.Repeat("!", n) + "a" },
	"parens":      func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) },
	"nots parens": func(n int) string { return strings.Repeat("!(", n) + "a" + strings.Repeat(")", n) },
	"pipes":       func(n int) string { return "a" + strings.Repeat("|a", n) },
	"ors":         func(n int) string { return "a" + strings.Repeat("||a", n) },
	"ands":        func(n int) string { return "a" + strings.Repeat("&&a", n) },
	"dots":        func(n int) string { return "a" + strings.Repeat(".a", n) },
	"indexes":     func(n int) string { return "a" + strings.Repeat("[0]", n) },
	"projections": func(n int) string { return strings.Repeat("a[*].", n) + "a" },
	"filters":     func(n int) string { return "a" + strings.Repeat("[?a]", n) },
	"slices":      func(n int) string { return "a" + strings.Repeat("[:]", n) },
	"flattens":    func(n int) string { return "a" + strings.Repeat("[]", n) },
	"wildcards":   func(n int) string { return strings.Repeat("*.", n) + "a" },
	"negations":   func(n int) string { return strings.Repeat("-a*", n) + "a" },
	"lists":       func(n int) string { return strings.Repeat("[a,", n) + "a" + strings.Repeat("]", n) },
	"hashes":      func(n int) string { return strings.Repeat("{a:", n) + "a" + strings.Repeat("}", n) },
	"calls":       func(n int) string { return strings.Repeat("length(", n) + "a" + strings.Repeat(")", n) },
	"exprefs":     func(n int) string { return strings.Repeat("map(&", n) + "a" + strings.Repeat(", a)", n) },
	"lets":        func(n int) string { return strings.Repeat("let $a = a in ", n) + "$a" },
	"assigns":     func(n int) string { return "a" + strings.Repeat("=a", n) },
	"comparisons": func(n int) string { return "a" + strings.Repeat(" < a", n) },
	"sums":        func(n int) string { return "a" + strings.Repeat(" + a", n) },
	"mixed":       func(n int) string { return strings.Repeat("!-&[*].{a:(", n) + "a" + strings.Repeat(")}", n) },
}

// largestAccepted returns the largest instance of family that compiles.
func largestAccepted(family func(int) string) (string, bool) {
	lo, hi := 0, format.MaxExpressionBytes // family(lo) compiles, family(hi) does not
	if _, err := format.Compile(columnSpec(family(lo))); err != nil {
		return "", false
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := format.Compile(columnSpec(family(mid))); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return family(lo), true
}

// smallStack is the goroutine stack the largest accepted expressions must
// compile and run in; refusing 500,000 "!" used to need more than 1 GB.
const smallStack = 1 << 20

// TestLargestAcceptedExpressionsRunInASmallStack compiles the largest
// accepted expression of every family and evaluates it on an event, in a
// child process whose goroutines may use at most smallStack bytes of stack:
// a deeper recursion there is a fatal error, which fails this test.
func TestLargestAcceptedExpressionsRunInASmallStack(t *testing.T) {
	if os.Getenv("S3RELAY_SMALL_STACK") == "1" {
		debug.SetMaxStack(smallStack)
		for name, family := range families {
			src, ok := largestAccepted(family)
			if !ok {
				t.Errorf("%s: even the smallest instance is refused", name)
				continue
			}
			f := MustCompile(t, columnSpec(src))
			MustEncodeAll(t, f, MustEvent(t, `{"a": [{"a": [1, 2]}, {"a": {"a": "x"}}, 3]}`))
			t.Logf("%s: %d bytes accepted", name, len(src))
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLargestAcceptedExpressionsRunInASmallStack$", "-test.v")
	cmd.Env = append(os.Environ(), "S3RELAY_SMALL_STACK=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nPASS") {
		t.Fatalf("child: %v\n%.20000s", err, out)
	}
	t.Logf("child:\n%s", out)
}

// FuzzExpressionBounds checks that no column value panics the compiler and
// that none past the bounds is accepted.
//
//fuzz:budget 150000x
func FuzzExpressionBounds(f *testing.F) {
	for _, family := range families {
		f.Add(family(3))
	}
	for _, s := range []string{"a\u0080", "'a\\'b'", "`[1]`", "\"a\\\"(\"", "$.a['b']", "!=", "[?a==`1`]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, err := format.Compile(columnSpec(src))
		if err == nil && len(src) > format.MaxExpressionBytes {
			t.Fatalf("%d bytes accepted", len(src))
		}
	})
}
