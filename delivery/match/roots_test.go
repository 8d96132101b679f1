package match_test

import (
	"reflect"
	"testing"
)

func TestRoots(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`type = "track" or type = "identify"`, []string{"type"}},
		{`type = "track" and event = "Signed Up"`, []string{"event", "type"}},
		{`(properties.total > 100 or traits.plan = "pro") and context.library.name exists`, []string{"context", "properties", "traits"}},
		{`topic starts_with "user."`, []string{"topic"}},
	}
	for _, tt := range tests {
		if got := MustParse(t, tt.src).Roots(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Roots(%s) = %v, want %v", tt.src, got, tt.want)
		}
	}
}
