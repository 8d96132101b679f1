package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// MustOpen opens a new database file in a temporary directory.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "s3relay.db"))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
