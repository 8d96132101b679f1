package store

import (
	"context"
	"crypto/subtle"
	"fmt"
)

// CheckKey makes sure every process on a shared database holds the same key
// material: the first one to start stores its key's check value, and a
// process whose key gives another value is refused with ECONFLICT (its
// sessions would not verify on the other replicas, and the secrets it seals
// would not open there). On SQLite the key lives in the data dir beside the
// database, and there is nothing to check.
func (db *DB) CheckKey(ctx context.Context, k *Keys) error {
	if !db.d.postgres {
		return nil
	}
	want := k.CheckValue()
	if _, err := db.write.ExecContext(ctx, `INSERT INTO key_check (id, value, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		want, ms(db.Now())); err != nil {
		return fmt.Errorf("check key: %w", err)
	}
	var got string
	if err := db.read.QueryRowContext(ctx, `SELECT value FROM key_check WHERE id = 1`).Scan(&got); err != nil {
		return fmt.Errorf("check key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return Errorf(ECONFLICT, "The key (S3RELAY_KEY or S3RELAY_KEY_FILE) does not match the one this database was first used with: every replica needs the same key.")
	}
	return nil
}
