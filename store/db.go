// Package store holds s3relay's domain types, their validation and their
// persistence in SQLite.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	// The SQLite driver registers itself as "sqlite3".
	_ "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the s3relay database. Writes go through a single connection so that
// SQLite never answers SQLITE_BUSY between our own writers; reads use a pool.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB
	keys  *Keys
	disk  diskState
	// endpointCheck refuses custom endpoints before they are stored; see UseEndpointCheck.
	endpointCheck func(endpoint string) error

	// Now returns the current time; tests replace it to control the clock.
	Now func() time.Time
	// PasswordCost is the bcrypt cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it: bcrypt is slow under -race.
	PasswordCost int
}

// Open opens (creating it when missing) the database at path and applies every
// pending migration.
func Open(ctx context.Context, path string) (*DB, error) {
	return openWith(ctx, path, migrationFS, "migrations", true)
}

// OpenMigrated opens the database at path without applying migrations, for a
// process that runs beside the one that owns the database (a CLI command
// beside a server). It returns ECONFLICT when the database lacks a migration
// this build needs.
func OpenMigrated(ctx context.Context, path string) (*DB, error) {
	return openWith(ctx, path, migrationFS, "migrations", false)
}

func openWith(ctx context.Context, dbPath string, fsys fs.FS, dir string, migrate bool) (*DB, error) {
	// SQLite gives the -wal and -shm files the database file's mode, so making
	// it 0600 first keeps every file of the database private.
	f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	f.Close()
	write, err := sql.Open("sqlite3", dsn(dbPath, false))
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite3", dsn(dbPath, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open db: %w", err)
	}
	read.SetMaxOpenConns(8)
	// Times are stored in milliseconds: Now gives no more, so what a create
	// returns equals what a later read returns.
	db := &DB{path: dbPath, write: write, read: read, Now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
	if migrate {
		err = db.migrate(ctx, fsys, dir)
	} else {
		err = db.checkMigrated(ctx, fsys, dir)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn puts every pragma in the connection string so that each pooled
// connection gets them, not only the first one.
func dsn(p string, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	// FULL: an acknowledged commit survives power loss, not only a process crash.
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", "-16000")
	if readOnly {
		q.Set("_query_only", "true")
	}
	return "file:" + p + "?" + q.Encode()
}

// Close closes the database.
func (db *DB) Close() error {
	rerr := db.read.Close()
	if err := db.write.Close(); err != nil {
		return fmt.Errorf("close db: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("close db: %w", rerr)
	}
	return nil
}

// Ping checks that the database answers and is writable.
func (db *DB) Ping(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ping db: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping db: %w", err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies, in order and each in its own transaction, the migrations
// not yet recorded in schema_migrations.
func (db *DB) migrate(ctx context.Context, fsys fs.FS, dir string) error {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return err
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	for _, m := range ms {
		if err := db.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// checkMigrated returns ECONFLICT when a migration is not yet applied.
func (db *DB) checkMigrated(ctx context.Context, fsys fs.FS, dir string) error {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return err
	}
	applied := map[int]bool{}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if n > 0 {
		vs, err := db.Migrations(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			applied[v] = true
		}
	}
	missing := 0
	for _, m := range ms {
		if !applied[m.version] {
			missing++
		}
	}
	if missing > 0 {
		return Errorf(ECONFLICT, "The database lacks %d migrations of this version of s3relay, which only \"s3relay serve\" applies.", missing)
	}
	return nil
}

func (db *DB) apply(ctx context.Context, m migration) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, db.Now().UnixMilli()); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	return nil
}

// Migrations returns the versions recorded as applied, in order.
func (db *DB) Migrations(ctx context.Context) ([]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("list migrations: %w", err)
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// NewID returns a new time-ordered identifier with a type prefix, such as
// "src_01J...". Later identifiers sort after earlier ones, which keyset
// pagination relies on.
func NewID(prefix string) string {
	return prefix + "_" + strings.ToLower(ulid.MustNew(ulid.Now(), idEntropy).String())
}

var idEntropy = &lockedMonotonic{m: ulid.Monotonic(rand.Reader, 0)}

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMS converts a nullable stored time; NULL is the zero time.
func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// execer is what *sql.Tx and *sql.DB share for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
