package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// TestMigrationsMatchAcrossDialects: every SQLite migration has its
// PostgreSQL form under the same number, and no other.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(store.MigrationFS, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if got, want := names("migrations/postgres"), names("migrations"); !slices.Equal(got, want) {
		t.Errorf("PostgreSQL migrations: got %q, want the SQLite set %q", got, want)
	}
}

// TestOpenRefusesNewerSchema: a database that a newer s3relay migrated is
// refused, by Open and by OpenMigrated, with what to do.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := MustDSN(t)
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, 9999, "9999_future.sql", 0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for name, open := range map[string]func(context.Context, string) (*store.DB, error){"Open": store.Open, "OpenMigrated": store.OpenMigrated} {
		db, err := open(ctx, dsn)
		if err == nil {
			db.Close()
		}
		if want := "migrated by a newer s3relay (migration 9999); upgrade this binary"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", name, err, want)
		}
	}
}

// TestConcurrentOpenMigratesOnce: processes starting together on one empty
// database all open it, and each migration is applied once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dsn := MustDSN(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*store.DB, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = store.Open(ctx, dsn)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	vs, err := dbs[0].Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := fs.Glob(store.MigrationFS, "migrations/*.sql")
	if got, want := len(vs), len(entries); got != want {
		t.Errorf("applied migrations: got %d (%v), want %d", got, vs, want)
	}
}
