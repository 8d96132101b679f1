package match_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/match"
)

func TestTypes(t *testing.T) {
	tests := []struct {
		trigger string
		types   []string
		all     bool
	}{
		{match.Default, []string{"identify", "track"}, false},
		{`type = "track"`, []string{"track"}, false},
		{`match(type, "page")`, []string{"page"}, false},
		{`event = "x"`, nil, true},
		{`type = "track" and event = "x"`, []string{"track"}, false},
		{`event = "x" and type = "track"`, []string{"track"}, false},
		{`type = "track" or event = "x"`, nil, true},
		{`type = "track" or type = "track"`, []string{"track"}, false},
		{`(type = "a" or type = "b") and (type = "b" or type = "c")`, []string{"b"}, false},
		{`type = "a" and type = "b"`, []string{}, false},
		{`type != "a"`, nil, true},
		{`type starts_with "t"`, nil, true},
		{`type exists`, nil, true},
		{`(type = "page" or type = "screen") and properties.x exists or type = "track"`, []string{"page", "screen", "track"}, false},
		{`type = "track" and (event = "a" or event = "b")`, []string{"track"}, false},
	}
	for _, tt := range tests {
		types, all := MustParse(t, tt.trigger).Types()
		if all != tt.all || !slices.Equal(types, tt.types) {
			t.Errorf("%q Types() = %q, %v, want %q, %v", tt.trigger, types, all, tt.types, tt.all)
		}
	}
}

func TestConditions(t *testing.T) {
	tests := []struct {
		trigger string
		conds   []match.Condition
		joiner  string
		ok      bool
	}{
		{match.Default, []match.Condition{{"type", "=", "track"}, {"type", "=", "identify"}}, "or", true},
		{`properties.total > 100.50`, []match.Condition{{"properties.total", ">", "100.5"}}, "and", true},
		{`event exists and properties.x contains "a" and traits.vip is_true`,
			[]match.Condition{{"event", "exists", ""}, {"properties.x", "contains", "a"}, {"traits.vip", "is_true", ""}}, "and", true},
		{`properties.first\ name = "Ann" or userId = "say \"hi\""`,
			[]match.Condition{{`properties.first\ name`, "=", "Ann"}, {"userId", "=", `say "hi"`}}, "or", true},
		{`properties.vip = true`, []match.Condition{{"properties.vip", "=", "true"}}, "and", true},
		{`match(event, "Order*")`, []match.Condition{{"event", "starts_with", "Order"}}, "and", true},
		{`properties.x = null`, []match.Condition{{"properties.x", "not_exists", ""}}, "and", true},
		// Typed operators keep the value's type: quoted when a string would
		// otherwise read as a number or a boolean.
		{`properties.total = 100 and properties.code = "100" and properties.flag != "true"`,
			[]match.Condition{{"properties.total", "=", "100"}, {"properties.code", "=", `"100"`}, {"properties.flag", "!=", `"true"`}}, "and", true},
		{`properties.tags contains 3 or properties.tags not_contains "3" or properties.q = '"x'`,
			[]match.Condition{{"properties.tags", "contains", "3"}, {"properties.tags", "not_contains", `"3"`}, {"properties.q", "=", `"\"x"`}}, "or", true},
		{`userId = 123 and event starts_with "1"`, []match.Condition{{"userId", "=", `"123"`}, {"event", "starts_with", "1"}}, "and", true},
		{`type = "a" and (event = "b" or event = "c")`, nil, "", false},
		{`type = "a" or event = "b" and name = "c"`, nil, "", false},
	}
	for _, tt := range tests {
		conds, joiner, ok := MustParse(t, tt.trigger).Conditions()
		if ok != tt.ok || joiner != tt.joiner || !slices.Equal(conds, tt.conds) {
			t.Errorf("%q Conditions() = %q, %q, %v, want %q, %q, %v", tt.trigger, conds, joiner, ok, tt.conds, tt.joiner, tt.ok)
		}
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		conds  []match.Condition
		joiner string
		want   string
	}{
		{[]match.Condition{{"type", "=", "track"}, {"type", "=", "identify"}}, "or", match.Default},
		{[]match.Condition{{" properties.total ", " > ", " 100 "}}, "and", `properties.total > 100`},
		{[]match.Condition{{"properties.total", "<=", "-1.50"}}, "", `properties.total <= -1.5`},
		{[]match.Condition{{"properties.total", "=", "100"}}, "and", `properties.total = 100`},
		{[]match.Condition{{"properties.total", "=", `"100"`}}, "and", `properties.total = "100"`},
		{[]match.Condition{{"properties.total", "!=", `'1e3'`}}, "and", `properties.total != "1e3"`},
		{[]match.Condition{{"properties.vip", "=", "true"}, {"properties.vip", "!=", `"false"`}}, "and", `properties.vip = true and properties.vip != "false"`},
		{[]match.Condition{{"properties.tags", "contains", "3"}}, "and", `properties.tags contains 3`},
		{[]match.Condition{{"properties.code", "=", "007"}, {"properties.code", "=", "1."}}, "or", `properties.code = "007" or properties.code = "1."`},
		{[]match.Condition{{"properties.x", "=", "null"}}, "and", `properties.x = "null"`},
		{[]match.Condition{{"userId", "=", "123"}}, "and", `userId = "123"`},
		{[]match.Condition{{"event", "starts_with", `"Order`}}, "and", `event starts_with "\"Order"`},
		{[]match.Condition{{"properties.vip", "is_true", "ignored"}}, "and", `properties.vip is_true`},
		{[]match.Condition{{"event", "contains", `say "hi"\`}}, "and", `event contains "say \"hi\"\\"`},
		{[]match.Condition{{"event", "=", ""}, {"userId", "exists", ""}}, "", `event = "" and userId exists`},
		{[]match.Condition{{`properties.first\ name`, "starts_with", "A"}}, "or", `properties.first\ name starts_with "A"`},
		{[]match.Condition{{"properties.tags", "not_contains", "a\nb"}}, "and", `properties.tags not_contains "a\nb"`},
	}
	for _, tt := range tests {
		got, err := match.Build(tt.conds, tt.joiner)
		if err != nil {
			t.Errorf("Build(%q, %q): %v", tt.conds, tt.joiner, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Build(%q, %q) = %q, want %q", tt.conds, tt.joiner, got, tt.want)
		}
		MustParse(t, got)
	}
}

func TestBuildInvalid(t *testing.T) {
	ok := match.Condition{Field: "type", Op: "=", Value: "track"}
	tests := []struct {
		conds  []match.Condition
		joiner string
		index  int
		part   string
		want   string
	}{
		{[]match.Condition{ok, {"", "=", "x"}}, "and", 1, "field", "is empty"},
		{[]match.Condition{{"evnt", "=", "x"}}, "and", 0, "field", `unknown field "evnt"`},
		{[]match.Condition{{"properties.x y", "=", "x"}}, "and", 0, "field", `unexpected "y" after the field`},
		{[]match.Condition{{`"event"`, "=", "x"}}, "and", 0, "field", "expected a field"},
		{[]match.Condition{{"event.x", "=", "x"}}, "and", 0, "field", "has no fields"},
		{[]match.Condition{{"event", "==", "x"}}, "and", 0, "op", `unknown operator "=="`},
		{[]match.Condition{{"event", "", "x"}}, "and", 0, "op", "unknown operator"},
		{[]match.Condition{ok, ok, {"properties.total", ">", "abc"}}, "or", 2, "value", "> needs a number"},
		{[]match.Condition{{"properties.total", "<", ""}}, "and", 0, "value", "< needs a number"},
		{[]match.Condition{{"properties.total", ">=", "1 2"}}, "and", 0, "value", "unexpected number 2 after the number"},
		{[]match.Condition{{"properties.total", ">=", "1e999"}}, "and", 0, "value", "out of range"},
		{[]match.Condition{{"properties.x", "=", `"abc`}}, "and", 0, "value", "unterminated"},
		{[]match.Condition{{"properties.x", "!=", `"a" b`}}, "and", 0, "value", `unexpected "b" after the quoted value`},
	}
	for _, tt := range tests {
		got, err := match.Build(tt.conds, tt.joiner)
		var ce *match.ConditionError
		if !errors.As(err, &ce) {
			t.Errorf("Build(%q) = %q, %v, want a *match.ConditionError", tt.conds, got, err)
			continue
		}
		if ce.Index != tt.index || ce.Part != tt.part || !strings.Contains(ce.Msg, tt.want) {
			t.Errorf("Build(%q) error %d %s %q, want %d %s containing %q", tt.conds, ce.Index, ce.Part, ce.Msg, tt.index, tt.part, tt.want)
		}
	}
}

func TestBuildInvalidList(t *testing.T) {
	ok := []match.Condition{{Field: "type", Op: "=", Value: "track"}}
	if got, err := match.Build(nil, "and"); err == nil {
		t.Errorf("Build(nil) = %q, want an error", got)
	}
	if got, err := match.Build(ok, "xor"); err == nil {
		t.Errorf("Build(joiner xor) = %q, want an error", got)
	}
	if got, err := match.Build(ok, "AND"); err == nil {
		t.Errorf("Build(joiner AND) = %q, want an error", got)
	}
}

// TestConditionsBuildRoundTrip checks that rows read from a trigger build a
// trigger with the same rows that matches the same events.
func TestConditionsBuildRoundTrip(t *testing.T) {
	events := []map[string]any{MustDecode(t, orderEvent, true)}
	for _, src := range sampleEvents {
		events = append(events, MustDecode(t, src, false))
	}
	sources := []string{}
	for _, tt := range validTriggers {
		sources = append(sources, tt.src)
	}
	for _, tt := range matchTests {
		sources = append(sources, tt.trigger)
	}
	flat := 0
	for _, src := range sources {
		orig := MustParse(t, src)
		conds, joiner, ok := orig.Conditions()
		if !ok {
			continue
		}
		flat++
		text, err := match.Build(conds, joiner)
		if err != nil {
			t.Errorf("%q: Build(%q, %q): %v", src, conds, joiner, err)
			continue
		}
		built := MustParse(t, text)
		conds2, joiner2, ok2 := built.Conditions()
		if !ok2 || joiner2 != joiner || !slices.Equal(conds2, conds) {
			t.Errorf("%q: rebuilt %q has conditions %q, %q, %v, want %q, %q", src, text, conds2, joiner2, ok2, conds, joiner)
		}
		for i, event := range events {
			if got, want := built.Match(event), orig.Match(event); got != want {
				t.Errorf("%q: rebuilt %q on event %d: Match = %v, want %v", src, text, i, got, want)
			}
		}
	}
	if flat < 100 {
		t.Errorf("only %d flat triggers checked, want at least 100", flat)
	}
}

func TestOperatorsAndFields(t *testing.T) {
	ops := match.Operators()
	if len(ops) != 16 || ops[0] != "=" {
		t.Errorf("Operators() = %q, want 16 starting with =", ops)
	}
	for _, op := range ops {
		want := !slices.Contains([]string{"exists", "not_exists", "is_true", "is_false"}, op)
		if got := match.TakesValue(op); got != want {
			t.Errorf("TakesValue(%q) = %v, want %v", op, got, want)
		}
		cond := match.Condition{Field: "properties.x", Op: op, Value: "1"}
		if _, err := match.Build([]match.Condition{cond}, "and"); err != nil {
			t.Errorf("Build with operator %q: %v", op, err)
		}
	}
	if match.TakesValue("nope") {
		t.Error(`TakesValue("nope") = true, want false`)
	}
	for _, f := range match.Fields() {
		if _, err := match.Parse(f + " exists"); err != nil {
			t.Errorf("field %q does not parse: %v", f, err)
		}
	}
	if got, want := strings.Join(match.Fields(), " "), "type event name userId anonymousId messageId topic properties traits context"; got != want {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
}
