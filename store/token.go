package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every management API token, so that leaked tokens are
// easy to recognise (and to scan for).
const TokenPrefix = "s3r_"

// APIToken is a management API credential. Only its hash is stored: the token
// itself is shown once, when it is created.
type APIToken struct {
	ID         string
	Name       string
	Prefix     string // the first characters, to tell tokens apart
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Revoked reports whether the token was revoked.
func (t *APIToken) Revoked() bool { return !t.RevokedAt.IsZero() }

// validateTokenName checks a token's name.
func validateTokenName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return FieldErrorf("name", "Name is required.")
	case len(name) > 100:
		return FieldErrorf("name", "Name must be at most 100 characters.")
	case !plainText(name):
		return FieldErrorf("name", notPlainText, "Name")
	}
	return nil
}

// CreateToken creates a management API token and returns it with its secret
// value, which is not stored and cannot be shown again. Returns EINVALID for a
// bad name.
func (db *DB) CreateToken(ctx context.Context, name string) (*APIToken, string, error) {
	name = strings.TrimSpace(name)
	if err := validateTokenName(name); err != nil {
		return nil, "", err
	}
	secret := TokenPrefix + randomToken(32)
	t := &APIToken{ID: NewID("tok"), Name: name, Prefix: secret[:len(TokenPrefix)+6], CreatedAt: db.Now()}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO api_tokens (id, name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, hashSecret(secret), t.Prefix, ms(t.CreatedAt)); err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// TokenBySecret returns the live token with this secret value and records its
// use. Returns EUNAUTHORIZED when it is unknown or revoked.
func (db *DB) TokenBySecret(ctx context.Context, secret string) (*APIToken, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, Errorf(EUNAUTHORIZED, "Invalid API token.")
	}
	t, err := scanToken(db.read.QueryRowContext(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at
		FROM api_tokens WHERE token_hash = ?`, hashSecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(EUNAUTHORIZED, "Invalid API token.")
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	if t.Revoked() {
		return nil, Errorf(EUNAUTHORIZED, "This API token was revoked.")
	}
	now := db.Now()
	// Recording use at most once a minute keeps API reads from becoming writes.
	if now.Sub(t.LastUsedAt) >= time.Minute {
		if _, err := db.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(now), t.ID); err != nil {
			return nil, fmt.Errorf("touch token: %w", err)
		}
		t.LastUsedAt = now
	}
	return t, nil
}

// ListTokens returns every token, newest first, revoked ones included.
func (db *DB) ListTokens(ctx context.Context) ([]*APIToken, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at
		FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var ts []*APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// RevokeToken revokes a token. Returns ENOTFOUND when it does not exist;
// revoking a revoked token changes nothing.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, ms(db.Now()), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "API token not found.")
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanToken(s scanner) (*APIToken, error) {
	var t APIToken
	var created int64
	var used, revoked sql.NullInt64
	if err := s.Scan(&t.ID, &t.Name, &t.Prefix, &created, &used, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMS(created), fromNullMS(used), fromNullMS(revoked)
	return &t, nil
}
