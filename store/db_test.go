package store_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/s3relay/s3relay/store"
)

// schema returns every schema object's SQL, the migration records and the
// user rows: what a repeated migration must leave unchanged.
func schema(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	recs, err := db.Query(`SELECT version || ' ' || name || ' ' || applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Close()
	for recs.Next() {
		var s string
		if err := recs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s3relay.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, "a@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := schema(t, path)

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	vs, err := db.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := schema(t, path); !reflect.DeepEqual(got, before) {
		t.Errorf("schema after second open differs:\ngot  %q\nwant %q", got, before)
	}
	if len(vs) < 2 || vs[0] != 1 || vs[1] != 2 {
		t.Errorf("migrations = %v, want 1, 2, ...", vs)
	}
}

func TestOpenUpgradesOlderDataDir(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s3relay.db")

	// Write the data dir with only the first migration, as the first release did.
	first, err := fs.ReadFile(store.MigrationFS, "migrations/0001_accounts.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{"m/0001_accounts.sql": {Data: first}}
	db, err := store.OpenWith(ctx, path, old, "m")
	if err != nil {
		t.Fatalf("open with old migrations: %v", err)
	}
	u, err := db.CreateUser(ctx, "old@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ListSources(ctx, store.Page{}); err == nil {
		t.Fatal("sources table exists before the pipeline migration")
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	vs, err := db.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 2 {
		t.Fatalf("migrations after upgrade = %v, want at least 1 and 2", vs)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil || got.Email != "old@example.com" {
		t.Fatalf("user after upgrade = %+v, %v; want the old user kept", got, err)
	}
	src := &store.Source{Name: "web"}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatalf("create source after upgrade: %v", err)
	}
}

func TestMigrationErrorsAreReported(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"bad name", fstest.MapFS{"m/first.sql": {Data: []byte("SELECT 1;")}}, "NNNN_name.sql"},
		{"same number", fstest.MapFS{
			"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x);")},
			"m/0001_b.sql": {Data: []byte("CREATE TABLE b (x);")},
		}, "share a number"},
		{"bad sql", fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE (;")}}, "0001_a.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.OpenWith(ctx, filepath.Join(t.TempDir(), "x.db"), tt.fs, "m")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestFailedMigrationLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s3relay.db")
	good := fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x);")}}
	db, err := store.OpenWith(ctx, path, good, "m")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bad := fstest.MapFS{
		"m/0001_a.sql": good["m/0001_a.sql"],
		"m/0002_b.sql": {Data: []byte("CREATE TABLE b (x); INSERT INTO nope VALUES (1);")},
	}
	if _, err := store.OpenWith(ctx, path, bad, "m"); err == nil {
		t.Fatal("broken migration applied without error")
	}
	db, err = store.OpenWith(ctx, path, good, "m")
	if err != nil {
		t.Fatalf("reopen after failed migration: %v", err)
	}
	defer db.Close()
	if vs, _ := db.Migrations(ctx); !reflect.DeepEqual(vs, []int{1}) {
		t.Errorf("migrations = %v, want [1]: the failed one must roll back", vs)
	}
}

func TestNewIDSortsInCreationOrder(t *testing.T) {
	prev := store.NewID("x")
	for i := 0; i < 10000; i++ {
		id := store.NewID("x")
		if id <= prev {
			t.Fatalf("id %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
}

func TestOpenMigratedRefusesAnOlderSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s3relay.db")
	first, err := fs.ReadFile(store.MigrationFS, "migrations/0001_accounts.sql")
	if err != nil {
		t.Fatal(err)
	}
	old, err := store.OpenWith(ctx, path, fstest.MapFS{"m/0001_accounts.sql": {Data: first}}, "m")
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	if _, err := store.OpenMigrated(ctx, path); store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("OpenMigrated on an older schema: err %v, want a conflict", err)
	}
	// It migrated nothing: that is the server's job.
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("migrations after a refused OpenMigrated = %d, %v; want 1", n, err)
	}
	raw.Close()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.OpenMigrated(ctx, path)
	if err != nil {
		t.Fatalf("OpenMigrated once migrated: %v", err)
	}
	db.Close()
}
