// Package store holds s3relay's domain types, their validation and their
// persistence in SQLite or PostgreSQL (see dialect.go and migrations/README.md).
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

	// The pgx database/sql driver registers itself as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
	// The SQLite driver registers itself as "sqlite3".
	_ "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// DB is the s3relay database, SQLite or PostgreSQL. On SQLite, writes go
// through a single connection so that SQLite never answers SQLITE_BUSY
// between our own writers, and reads use a pool. On PostgreSQL one pool
// serves both, and transactions that read then write lock what they read
// (see forUpdate): several replicas write at once.
type DB struct {
	path  string
	d     *dialect
	write *conn
	read  *conn
	keys  *Keys
	disk  diskState
	// endpointCheck refuses custom endpoints before they are stored; see UseEndpointCheck.
	endpointCheck func(endpoint string) error
	// byWriteKey holds sources recently found by their write keys.
	byWriteKey sourceCache

	// Now returns the current time, the database server's on PostgreSQL
	// (see clock.go); tests replace it to control the clock.
	Now   func() time.Time
	clock dbClock
	// PasswordCost is the bcrypt cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it: bcrypt is slow under -race.
	PasswordCost int
}

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than an SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open opens the database and applies every pending migration. dsn is the
// path of an SQLite file (created when missing) or a postgres:// URL.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return openWith(ctx, dsn, migrationFS, "", true)
}

// OpenMigrated opens the database without applying migrations, for a
// process that runs beside the one that owns the database (a CLI command
// beside a server). It returns ECONFLICT when the database lacks a migration
// this build needs.
func OpenMigrated(ctx context.Context, dsn string) (*DB, error) {
	return openWith(ctx, dsn, migrationFS, "", false)
}

// migrationDir is where a dialect's migrations live in fsys: dir for SQLite
// (default "migrations"), dir/postgres for PostgreSQL.
func (d *dialect) migrationDir(dir string) string {
	if dir == "" {
		dir = "migrations"
	}
	if d.postgres {
		return path.Join(dir, "postgres")
	}
	return dir
}

func openWith(ctx context.Context, dsn string, fsys fs.FS, dir string, migrate bool) (*DB, error) {
	var db *DB
	var err error
	if IsURL(dsn) {
		db, err = openPostgres(dsn)
	} else {
		db, err = openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	if db.d.postgres {
		// The clock's first reading is also the first connection.
		db.useServerClock()
		if err := db.syncClock(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to the database: %w", err)
		}
	}
	dir = db.d.migrationDir(dir)
	if migrate {
		err = db.migrate(ctx, fsys, dir)
	} else {
		err = db.checkMigrated(ctx, fsys, dir)
	}
	if err == nil {
		err = db.checkNotNewer(ctx, fsys, dir)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newDB(p string, d *dialect, write, read *sql.DB) *DB {
	// Times are stored in milliseconds: Now gives no more, so what a create
	// returns equals what a later read returns.
	return &DB{path: p, d: d, write: &conn{DB: write, d: d}, read: &conn{DB: read, d: d},
		Now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
}

func openSQLite(dbPath string) (*DB, error) {
	// SQLite gives the -wal and -shm files the database file's mode, so making
	// it 0600 first keeps every file of the database private.
	f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	f.Close()
	write, err := sql.Open("sqlite3", sqliteDSN(dbPath, false))
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite3", sqliteDSN(dbPath, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open db: %w", err)
	}
	read.SetMaxOpenConns(8)
	return newDB(dbPath, sqliteDialect, write, read), nil
}

// PoolSize is the number of PostgreSQL connections one process opens at most.
const PoolSize = 16

func openPostgres(u string) (*DB, error) {
	pool, err := sql.Open("pgx", u)
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	pool.SetMaxOpenConns(PoolSize)
	pool.SetMaxIdleConns(PoolSize)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return newDB(u, postgresDialect, pool, pool), nil
}

// sqliteDSN puts every pragma in the connection string so that each pooled
// connection gets them, not only the first one.
func sqliteDSN(p string, readOnly bool) string {
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
	var rerr error
	if db.read.DB != db.write.DB {
		rerr = db.read.Close()
	}
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
	if err := db.inMigrationTx(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`)
		return err
	}); err != nil {
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
	if err := db.read.QueryRowContext(ctx, db.d.tableExistsSQL(), "schema_migrations").Scan(&n); err != nil {
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

// migrationLock is the PostgreSQL advisory lock key under which migrations
// run, so that replicas starting together apply each one once.
const migrationLock = 0x53335265 // "S3Re"

// inMigrationTx runs fn in a transaction that, on PostgreSQL, first takes the
// migration lock: a replica that starts while another migrates waits, then
// finds the migration applied.
func (db *DB) inMigrationTx(ctx context.Context, fn func(*tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.d.postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrationLock)); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (db *DB) apply(ctx context.Context, m migration) error {
	err := db.inMigrationTx(ctx, func(tx *tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, db.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	return nil
}

// checkNotNewer refuses a database that holds a migration this build does
// not know: a newer s3relay migrated it, and this one would misread it.
func (db *DB) checkNotNewer(ctx context.Context, fsys fs.FS, dir string) error {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return err
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	var n int
	if err := db.read.QueryRowContext(ctx, db.d.tableExistsSQL(), "schema_migrations").Scan(&n); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if n == 0 {
		return nil
	}
	vs, err := db.Migrations(ctx)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if !known[v] {
			return Errorf(ECONFLICT, "The database was migrated by a newer s3relay (migration %d); upgrade this binary.", v)
		}
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

// execer is what *tx and *conn share for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
