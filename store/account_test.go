package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

func TestValidateCredentials(t *testing.T) {
	tests := []struct {
		email, password, field string
	}{
		{"a@example.com", "12345678", ""},
		{"", "12345678", "email"},
		{"not an email", "12345678", "email"},
		{"Ann <a@example.com>", "12345678", "email"},
		{"a@example.com", "1234567", "password"},
		{"a@example.com", strings.Repeat("x", 73), "password"},
	}
	for _, tt := range tests {
		err := store.ValidateCredentials(tt.email, tt.password)
		if got := store.ErrorField(err); got != tt.field {
			t.Errorf("ValidateCredentials(%q, %q) field = %q (%v), want %q", tt.email, tt.password, got, err, tt.field)
		}
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if _, err := db.CreateFirstUser(ctx, "admin@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateFirstUser(ctx, "second@example.com", "correct horse"); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("second first user: err = %v, want conflict", err)
	}
	if _, err := db.CreateUser(ctx, "ADMIN@example.com", "correct horse"); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("duplicate email (other case): err = %v, want conflict", err)
	}
	u, err := db.Authenticate(ctx, "admin@example.com", "correct horse")
	if err != nil || u.Email != "admin@example.com" {
		t.Fatalf("Authenticate = %v, %v", u, err)
	}
	for _, c := range [][2]string{{"admin@example.com", "wrong horse"}, {"nobody@example.com", "correct horse"}} {
		_, err := db.Authenticate(ctx, c[0], c[1])
		if store.ErrorCode(err) != store.EUNAUTHORIZED || store.ErrorMessage(err) != "Wrong email or password." {
			t.Errorf("Authenticate(%q, %q) = %v, want unauthorized with one message for both", c[0], c[1], err)
		}
	}
	if _, err := db.UserByID(ctx, "usr_missing"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("UserByID(missing) = %v, want not_found", err)
	}
}

func TestSessionsExpireAndEnd(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	u, err := db.CreateUser(ctx, "a@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	p := store.SessionPolicy{Idle: time.Hour, Max: 24 * time.Hour}
	s, err := db.CreateSession(ctx, u.ID, p, "test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// Activity inside the idle window keeps the session alive.
	for i := 0; i < 3; i++ {
		now = now.Add(50 * time.Minute)
		if _, err := db.SessionByID(ctx, s.ID, p); err != nil {
			t.Fatalf("session after %d active periods: %v", i+1, err)
		}
	}
	now = now.Add(61 * time.Minute)
	if _, err := db.SessionByID(ctx, s.ID, p); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("idle session: err = %v, want unauthorized", err)
	}

	s2, err := db.CreateSession(ctx, u.ID, p, "test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByID(ctx, s2.ID, p); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("deleted session: err = %v, want unauthorized", err)
	}

	s3, err := db.CreateSession(ctx, u.ID, p, "test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		now = now.Add(59 * time.Minute)
		_, err = db.SessionByID(ctx, s3.ID, p)
	}
	if store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("session past its maximum life: err = %v, want unauthorized", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if _, _, err := db.CreateToken(ctx, "  "); store.ErrorField(err) != "name" {
		t.Errorf("blank name: err = %v, want a name error", err)
	}
	tok, secret, err := db.CreateToken(ctx, "terraform")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, store.TokenPrefix) || !strings.HasPrefix(secret, tok.Prefix) {
		t.Errorf("secret %q, prefix %q: want the prefix to start the secret", secret, tok.Prefix)
	}
	if got, err := db.TokenBySecret(ctx, secret); err != nil || got.ID != tok.ID {
		t.Fatalf("TokenBySecret = %v, %v", got, err)
	}
	for _, bad := range []string{"", "s3r_nope", secret + "x", strings.TrimPrefix(secret, store.TokenPrefix)} {
		if _, err := db.TokenBySecret(ctx, bad); store.ErrorCode(err) != store.EUNAUTHORIZED {
			t.Errorf("TokenBySecret(%q) = %v, want unauthorized", bad, err)
		}
	}
	if err := db.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TokenBySecret(ctx, secret); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("revoked token: err = %v, want unauthorized", err)
	}
	if err := db.RevokeToken(ctx, "tok_missing"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("revoke missing: err = %v, want not_found", err)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	k1, err := store.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, store.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := store.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.SessionHash, k2.SessionHash) || bytes.Equal(k1.SessionHash, k1.CSRF) {
		t.Error("keys must be stable across loads and distinct per purpose")
	}
	sealed := k1.Seal([]byte("hunter2"), []byte("dst_1"))
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Error("sealed value contains the plaintext")
	}
	if pt, err := k2.Open(sealed, []byte("dst_1")); err != nil || string(pt) != "hunter2" {
		t.Errorf("Open = %q, %v", pt, err)
	}
	if _, err := k2.Open(sealed, []byte("dst_2")); err == nil {
		t.Error("a sealed value opened under another owner")
	}
	if err := os.Chmod(filepath.Join(dir, store.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.LoadKeys(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: err = %v, want a refusal", err)
	}
}

func TestAuthenticateTellsWrongPasswordFromUnknownEmail(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if _, err := db.CreateUser(ctx, "admin@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		email string
		wrong bool
	}{
		{"admin@example.com", true},
		{"ADMIN@example.com", true},
		{"nobody@example.com", false},
		{"not an email", false},
		{strings.Repeat("x", 300) + "@example.com", false},
	} {
		_, err := db.Authenticate(ctx, tt.email, "wrong horse")
		if store.ErrorCode(err) != store.EUNAUTHORIZED || store.ErrorMessage(err) != "Wrong email or password." {
			t.Errorf("Authenticate(%.40q) = %v, want unauthorized with the one message", tt.email, err)
		}
		if got := errors.Is(err, store.ErrWrongPassword); got != tt.wrong {
			t.Errorf("Authenticate(%.40q): is ErrWrongPassword = %v, want %v", tt.email, got, tt.wrong)
		}
	}
	if err := store.ValidateCredentials(strings.Repeat("x", 243)+"@example.com", "12345678"); store.ErrorField(err) != "email" {
		t.Errorf("255-byte email: %v, want refused", err)
	}
}

func TestSetPasswordEndsOtherSessions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	u, err := db.CreateUser(ctx, "admin@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	p := store.SessionPolicy{Idle: time.Hour, Max: 24 * time.Hour}
	keep, _ := db.CreateSession(ctx, u.ID, p, "test", "127.0.0.1")
	other, _ := db.CreateSession(ctx, u.ID, p, "test", "127.0.0.1")
	if err := db.SetPassword(ctx, u.ID, "short", keep.ID); store.ErrorField(err) != "password" {
		t.Errorf("short password: %v, want invalid password", err)
	}
	if err := db.SetPassword(ctx, "usr_missing", "long enough", ""); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("missing user: %v, want not_found", err)
	}
	if err := db.CheckPassword(ctx, u.ID, "wrong horse"); store.ErrorCode(err) != store.EUNAUTHORIZED || store.ErrorField(err) != "current_password" {
		t.Errorf("CheckPassword(wrong) = %v", err)
	}
	if err := db.SetPassword(ctx, u.ID, "new horse battery", keep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByID(ctx, keep.ID, p); err != nil {
		t.Errorf("kept session: %v", err)
	}
	if _, err := db.SessionByID(ctx, other.ID, p); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("other session: %v, want ended", err)
	}
	if _, err := db.Authenticate(ctx, "admin@example.com", "correct horse"); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("old password: %v, want refused", err)
	}
	if err := db.CheckPassword(ctx, u.ID, "new horse battery"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := db.SetPassword(ctx, u.ID, "newer horse battery", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByID(ctx, keep.ID, p); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("with no session kept, %v, want every session ended", err)
	}
}

func TestDeleteUserKeepsTheLastOne(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a, _ := db.CreateUser(ctx, "a@example.com", "correct horse")
	b, _ := db.CreateUser(ctx, "b@example.com", "correct horse")
	p := store.SessionPolicy{Idle: time.Hour, Max: 24 * time.Hour}
	s, _ := db.CreateSession(ctx, b.ID, p, "test", "127.0.0.1")
	if err := db.DeleteUser(ctx, "usr_missing"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("missing user: %v, want not_found", err)
	}
	if err := db.DeleteUser(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByID(ctx, s.ID, p); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("removed user's session: %v, want ended", err)
	}
	if _, err := db.UserByEmail(ctx, "B@example.com"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("removed user: %v, want not_found", err)
	}
	if err := db.DeleteUser(ctx, a.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("last user: %v, want conflict", err)
	}
	if n, _ := db.CountUsers(ctx); n != 1 {
		t.Errorf("users = %d, want the last one kept", n)
	}
}
