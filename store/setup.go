package store

import (
	"context"
	"errors"
	"fmt"
)

// setupCodeAAD binds a sealed setup code to its use.
var setupCodeAAD = []byte("setup-code")

// SetupCode returns the one-time setup code that every replica on this
// PostgreSQL database shows until an administrator exists. The first replica
// to ask stores newCode(), sealed with the key; the others, and later
// restarts, find that one. SQLite keeps no setup code: its one server keeps
// it in the data dir.
func (db *DB) SetupCode(ctx context.Context, newCode func() string) (string, error) {
	if !db.d.postgres {
		return "", errors.New("setup code: kept in the database on PostgreSQL only")
	}
	if db.keys == nil {
		return "", errors.New("setup code: no keys")
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO setup_code (id, code, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		db.keys.Seal([]byte(newCode()), setupCodeAAD), ms(db.Now())); err != nil {
		return "", fmt.Errorf("setup code: %w", err)
	}
	var sealed []byte
	if err := db.write.QueryRowContext(ctx, `SELECT code FROM setup_code WHERE id = 1`).Scan(&sealed); err != nil {
		return "", fmt.Errorf("setup code: %w", err)
	}
	code, err := db.keys.Open(sealed, setupCodeAAD)
	if err != nil {
		return "", fmt.Errorf("setup code: %w", err)
	}
	return string(code), nil
}

// ForgetSetupCode deletes the shared setup code, once an administrator
// exists. Nothing to do on SQLite.
func (db *DB) ForgetSetupCode(ctx context.Context) error {
	if !db.d.postgres {
		return nil
	}
	if _, err := db.write.ExecContext(ctx, `DELETE FROM setup_code`); err != nil {
		return fmt.Errorf("forget setup code: %w", err)
	}
	return nil
}
