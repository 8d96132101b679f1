package store_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	hexKey := "00070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9"
	want, err := store.ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{" " + hexKey + "\n", strings.ToUpper(hexKey), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
		k, err := store.ParseKey(text)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", text, err)
			continue
		}
		if got := k.CheckValue(); got != want.CheckValue() {
			t.Errorf("ParseKey(%q): check value %s, want %s", text, got, want.CheckValue())
		}
	}
	for _, bad := range []string{"", "abc", hexKey[:62], base64.StdEncoding.EncodeToString(raw[:31])} {
		if _, err := store.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q): got no error, want one", bad)
		}
	}
}

// TestCheckKey: on a shared database the first key is remembered and
// another is refused; on SQLite there is nothing to compare.
func TestCheckKey(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	k1, _ := store.ParseKey(strings.Repeat("11", 32))
	k2, _ := store.ParseKey(strings.Repeat("22", 32))
	if err := db.CheckKey(ctx, k1); err != nil {
		t.Fatalf("first key: %v", err)
	}
	if err := db.CheckKey(ctx, k1); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	err := db.CheckKey(ctx, k2)
	if db.Postgres() {
		if store.ErrorCode(err) != store.ECONFLICT || !strings.Contains(store.ErrorMessage(err), "does not match") {
			t.Errorf("other key: got %v, want a conflict saying it does not match", err)
		}
	} else if err != nil {
		t.Errorf("other key on SQLite: got %v, want nil", err)
	}
}
