package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/store/pgtest"
)

// backend is the database the tests of the current pass run on; TestMain
// runs every test once per backend.
var backend string

// backends are the databases the store runs on. S3RELAY_TEST_BACKENDS
// (comma-separated) narrows them while working on one.
func backends() []string {
	if v := os.Getenv("S3RELAY_TEST_BACKENDS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"sqlite", "postgres"}
}

func TestMain(m *testing.M) {
	code := 0
	for _, b := range backends() {
		backend = b
		fmt.Printf("=== store tests on %s\n", b)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	pgtest.Stop()
	os.Exit(code)
}

// MustOpen opens a new, empty database on the pass's backend: a file in a
// temporary directory, or a fresh PostgreSQL database.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), MustDSN(tb))
	if err != nil {
		tb.Fatalf("open on %s: %v", backend, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustDSN returns where a new, empty database lives on the pass's backend.
func MustDSN(tb testing.TB) string {
	tb.Helper()
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("(this run was on %s)", backend)
		}
	})
	if backend == "postgres" {
		return pgtest.URL(tb)
	}
	return filepath.Join(tb.TempDir(), "s3relay.db")
}
