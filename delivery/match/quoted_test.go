package match_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/match"
)

func TestQuoted(t *testing.T) {
	tests := []struct {
		trigger string
		want    []match.Quoted
	}{
		{match.Default, nil},
		{`properties.total = 100 and properties.vip = true`, nil},
		{`properties.name = "Ann" or properties.code = "007" or properties.v = "1."`, nil},
		{`properties.total = "100"`, []match.Quoted{{"properties.total", "=", `"100"`, "number", "100"}}},
		{`traits.vip != 'true' and context.x = "false"`, []match.Quoted{
			{"traits.vip", "!=", `"true"`, "boolean", "true"}, {"context.x", "=", `"false"`, "boolean", "false"}}},
		{`type = "track" and (properties.a = "1e3" or !contains(properties.tags, "-2.5"))`, []match.Quoted{
			{"properties.a", "=", `"1e3"`, "number", "1000"}, {"properties.tags", "not_contains", `"-2.5"`, "number", "-2.5"}}},
		{`match(properties.n, "12")`, []match.Quoted{{"properties.n", "=", `"12"`, "number", "12"}}},
		// Top-level fields are strings: their meaning did not change.
		{`userId = "123" or event = "true" or userId = 5`, nil},
		// Operators that only ever read strings did not change either.
		{`properties.x starts_with "1" or properties.x ends_with "true"`, nil},
		{`properties.x > 1 or properties.x exists`, nil},
	}
	for _, tt := range tests {
		if got := MustParse(t, tt.trigger).Quoted(); !slices.Equal(got, tt.want) {
			t.Errorf("%q Quoted() = %q, want %q", tt.trigger, got, tt.want)
		}
	}
}

func TestQuotedMessage(t *testing.T) {
	tests := []struct {
		trigger string
		want    string
	}{
		{`properties.total = "100"`, `properties.total = "100" compares with the string "100" and no longer matches the number 100 (triggers compare by type, as in Segment); write properties.total = 100 for the number.`},
		{`properties.vip != "true"`, `now also matches the boolean true`},
		{`properties.tags contains "3"`, `no longer matches an array element that is the number 3`},
	}
	for _, tt := range tests {
		q := MustParse(t, tt.trigger).Quoted()
		if len(q) != 1 {
			t.Fatalf("%q Quoted() = %q, want one", tt.trigger, q)
		}
		if got := q[0].Message(); !strings.Contains(got, tt.want) {
			t.Errorf("%q Message() = %q, want it to contain %q", tt.trigger, got, tt.want)
		}
	}
}
