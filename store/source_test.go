package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/s3relay/s3relay/store"
)

func TestNormalizeOrigins(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		ok   bool
	}{
		{nil, nil, true},
		{[]string{"", "  "}, nil, true},
		{[]string{"https://Shop.Example.com/"}, []string{"https://shop.example.com"}, true},
		{[]string{"https://a.example:443", "http://a.example:80", "http://a.example:8080"}, []string{"https://a.example", "http://a.example", "http://a.example:8080"}, true},
		{[]string{"https://a.example", "HTTPS://A.EXAMPLE"}, []string{"https://a.example"}, true},
		{[]string{"http://[::1]:3000"}, []string{"http://[::1]:3000"}, true},
		{[]string{"http://127.0.0.1:3000"}, []string{"http://127.0.0.1:3000"}, true},
		{[]string{"shop.example.com"}, nil, false},
		{[]string{"https://shop.example.com/path"}, nil, false},
		{[]string{"https://shop.example.com?q=1"}, nil, false},
		{[]string{"ftp://shop.example.com"}, nil, false},
		{[]string{"https://user@shop.example.com"}, nil, false},
		{[]string{"https://*.example.com"}, nil, false},
		{[]string{"*"}, nil, false},
		{[]string{"https://Bücher.example", "http://web_app:3000"}, []string{"https://xn--bcher-kva.example", "http://web_app:3000"}, true},
		{[]string{"http://a.example:99999"}, nil, false},
		{[]string{"http://a.example:0"}, nil, false},
		{[]string{"http://a.example:080", "https://a.example:08443"}, []string{"http://a.example", "https://a.example:8443"}, true},
	}
	for _, tt := range tests {
		got, err := store.NormalizeOrigins(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("NormalizeOrigins(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && store.ErrorField(err) != "allowed_origins" {
			t.Errorf("NormalizeOrigins(%q): error field %q, want allowed_origins", tt.in, store.ErrorField(err))
		}
	}
	many := make([]string, store.MaxAllowedOrigins+1)
	for i := range many {
		many[i] = "https://a" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example"
	}
	if _, err := store.NormalizeOrigins(many); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("%d origins: %v, want invalid", len(many), err)
	}
}

func TestSourceAllowedOrigins(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	src := &store.Source{Name: "web"}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	if !src.AllowsOrigin("https://any.example") {
		t.Error("a source without allowed origins refuses an origin")
	}
	got, err := db.SetAllowedOrigins(ctx, src.ID, []string{"https://shop.example.com", "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.SourceByWriteKey(ctx, src.WriteKey)
	if err != nil || !slices.Equal(again.AllowedOrigins, got.AllowedOrigins) || len(got.AllowedOrigins) != 2 {
		t.Fatalf("stored origins %v, read back %v, %v", got.AllowedOrigins, again, err)
	}
	for origin, want := range map[string]bool{"https://shop.example.com": true, "HTTPS://SHOP.EXAMPLE.COM": true, "http://localhost:3000": true, "https://evil.example": false, "null": false} {
		if again.AllowsOrigin(origin) != want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", origin, !want, want)
		}
	}
	if _, err := db.SetAllowedOrigins(ctx, src.ID, []string{"nope"}); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("a bad origin: %v, want invalid", err)
	}
	if _, err := db.SetAllowedOrigins(ctx, "src_missing", nil); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("a missing source: %v, want not found", err)
	}
	cleared, err := db.SetAllowedOrigins(ctx, src.ID, nil)
	if err != nil || len(cleared.AllowedOrigins) != 0 || !cleared.AllowsOrigin("https://evil.example") {
		t.Errorf("cleared: %+v, %v; want any origin allowed", cleared, err)
	}
}
