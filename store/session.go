package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a server-side dashboard login. Its ID is a random secret held
// only by the browser's cookie; the database stores its SHA-256.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// SessionPolicy bounds a session's life: it ends after Idle without a
// request, and after Max whatever happens.
type SessionPolicy struct {
	Idle time.Duration
	Max  time.Duration
}

// sessionTouchEvery limits how often a busy session's last_seen_at is written.
const sessionTouchEvery = time.Minute

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand.Read never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateSession starts a new session for a user and records the login time.
func (db *DB) CreateSession(ctx context.Context, userID string, p SessionPolicy, userAgent, remoteIP string) (*Session, error) {
	now := db.Now()
	s := &Session{ID: randomToken(32), UserID: userID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(p.Max)}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	defer tx.Rollback()
	// Expired rows of anyone are cleared here, the one place sessions are written often.
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
		ms(now), ms(now.Add(-p.Idle))); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, user_agent, remote_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, hashSecret(s.ID), userID, ms(now), ms(now), ms(s.ExpiresAt), truncate(userAgent, 256), remoteIP); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, ms(now), userID); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return s, nil
}

// SessionByID returns a live session and marks it seen. Returns EUNAUTHORIZED
// when the session does not exist, was ended, or has expired.
func (db *DB) SessionByID(ctx context.Context, id string, p SessionPolicy) (*Session, error) {
	now := db.Now()
	s := Session{ID: id}
	var created, seen, expires int64
	err := db.read.QueryRowContext(ctx, `SELECT user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = ?`,
		hashSecret(id)).Scan(&s.UserID, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(EUNAUTHORIZED, "Your session has ended. Sign in again.")
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(p.Idle)) {
		if err := db.DeleteSession(ctx, id); err != nil {
			return nil, err
		}
		return nil, Errorf(EUNAUTHORIZED, "Your session has expired. Sign in again.")
	}
	if now.Sub(s.LastSeenAt) >= sessionTouchEvery {
		if _, err := db.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, ms(now), hashSecret(id)); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		s.LastSeenAt = now
	}
	return &s, nil
}

// DeleteSession ends a session. Ending one that does not exist is not an error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSecret(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
