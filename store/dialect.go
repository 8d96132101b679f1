package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect holds the few differences between SQLite and PostgreSQL. Queries
// are written once, with ? placeholders and portable SQL; conn and tx rebind
// them to $n for PostgreSQL, and the methods below cover the statements that
// really differ.
type dialect struct {
	postgres bool
}

var (
	sqliteDialect   = &dialect{}
	postgresDialect = &dialect{postgres: true}
)

// Postgres reports whether the database is PostgreSQL.
func (db *DB) Postgres() bool { return db.d.postgres }

// rebind turns ? placeholders into $1, $2... for PostgreSQL, leaving quoted
// strings and identifiers alone.
func (d *dialect) rebind(q string) string {
	if !d.postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// args converts Go values the two drivers take differently: booleans are
// stored as 0/1 integers on both, as SQLite's driver does by itself.
func (d *dialect) args(args []any) []any {
	if !d.postgres {
		return args
	}
	for i, a := range args {
		if v, ok := a.(bool); ok {
			if v {
				args[i] = int64(1)
			} else {
				args[i] = int64(0)
			}
		}
	}
	return args
}

// least is the scalar minimum of two expressions (SQLite's two-argument min).
func (d *dialect) least(a, b string) string {
	if d.postgres {
		return "LEAST(" + a + ", " + b + ")"
	}
	return "min(" + a + ", " + b + ")"
}

// noIndex is a column that SQLite's planner must not pick an index for (a
// unary +); PostgreSQL's planner weighs indexes by statistics instead.
func (d *dialect) noIndex(col string) string {
	if d.postgres {
		return col
	}
	return "+" + col
}

// lockTable is the statement that makes transactions that read a whole
// table and then write it (count the users, then add or remove one) take
// turns; SQLite's immediate transactions already do.
func (d *dialect) lockTable(tx *tx, ctx context.Context, table string) error {
	if !d.postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `LOCK TABLE `+table+` IN SHARE ROW EXCLUSIVE MODE`)
	return err
}

// bytesLike is a LIKE of a BLOB/BYTEA column against a []byte pattern
// whose escape character is "!" (a lone backslash is not a bytea literal).
func (d *dialect) bytesLike(col string) string {
	if d.postgres {
		return col + ` LIKE ? ESCAPE '!'::bytea`
	}
	return col + ` LIKE ? ESCAPE '!'`
}

// emptyBlob is an empty BLOB/BYTEA literal.
func (d *dialect) emptyBlob() string {
	if d.postgres {
		return `''::bytea`
	}
	return "x''"
}

// ForUpdate locks the rows a SELECT reads until the transaction ends; SQLite
// has one writer, so it needs none.
func (d *dialect) forUpdate() string {
	if d.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// tableExistsSQL answers one row, a count, for the table named by its one
// argument.
func (d *dialect) tableExistsSQL() string {
	if d.postgres {
		return `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	return `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
}

// pgCode returns the SQLSTATE of a PostgreSQL error, "" for any other.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUniqueViolation reports whether err is a unique or primary key
// violation, on either database.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if pgCode(err) == "23505" {
		return true
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed") || strings.Contains(err.Error(), "PRIMARY KEY")
}

// isForeignKeyViolation reports whether err is a foreign key violation, on
// either database.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	return pgCode(err) == "23503" || strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// isTxConflict reports whether PostgreSQL aborted the transaction to break a
// deadlock (40P01) or a serialization failure (40001): running it again is
// the cure.
func isTxConflict(err error) bool {
	c := pgCode(err)
	return c == "40P01" || c == "40001"
}

// conn is a database handle that speaks the dialect: call sites write ?
// placeholders whichever database runs.
type conn struct {
	*sql.DB
	d *dialect
}

func (c *conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, c.d.rebind(q), c.d.args(args)...)
}

func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, c.d.rebind(q), c.d.args(args)...)
}

func (c *conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, c.d.rebind(q), c.d.args(args)...)
}

func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := c.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: c.d}, nil
}

// tx is a transaction that speaks the dialect.
type tx struct {
	*sql.Tx
	d *dialect
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.d.rebind(q), t.d.args(args)...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.d.rebind(q), t.d.args(args)...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.d.rebind(q), t.d.args(args)...)
}

func (t *tx) PrepareContext(ctx context.Context, q string) (*stmt, error) {
	s, err := t.Tx.PrepareContext(ctx, t.d.rebind(q))
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: s, d: t.d}, nil
}

// stmt is a prepared statement whose arguments follow the dialect.
type stmt struct {
	*sql.Stmt
	d *dialect
}

func (s *stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.Stmt.ExecContext(ctx, s.d.args(args)...)
}
