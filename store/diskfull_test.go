package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/s3relay/s3relay/store"
)

func TestDiskFullIsUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"SQLITE_FULL", fmt.Errorf("store events: %w", sqlite3.Error{Code: sqlite3.ErrFull}), store.EUNAVAILABLE},
		{"SQLITE_IOERR_WRITE with ENOSPC", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.ENOSPC}, store.EUNAVAILABLE},
		{"SQLITE_IOERR_SHMSIZE with EDQUOT", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrSHMSize, SystemErrno: syscall.EDQUOT}, store.EUNAVAILABLE},
		{"file write", fmt.Errorf("build file: %w", &os.PathError{Op: "write", Path: "/tmp/x", Err: syscall.ENOSPC}), store.EUNAVAILABLE},
		{"other I/O error", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EIO}, store.EINTERNAL},
		{"busy", sqlite3.Error{Code: sqlite3.ErrBusy}, store.EINTERNAL},
		{"PostgreSQL disk_full", fmt.Errorf("store events: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"}), store.EUNAVAILABLE},
		{"PostgreSQL unique_violation", &pgconn.PgError{Code: "23505"}, store.EINTERNAL},
		{"plain", errors.New("boom"), store.EINTERNAL},
		{"store error wins", store.Errorf(store.ECONFLICT, "taken"), store.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if tt.code == store.EUNAVAILABLE {
				if got, want := store.ErrorMessage(tt.err), store.DiskFullMessage; got != want {
					t.Errorf("ErrorMessage = %q, want %q", got, want)
				}
			}
		})
	}
}

// TestUnreachableDatabaseIsUnavailable: a PostgreSQL server out of reach
// (refusing connections, shutting down, starting up, a session that broke)
// is a write to retry later, with its own message; the caller's own deadline
// is not, nor is another server's refused connection.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"bad connection", fmt.Errorf("store events: %w", driver.ErrBadConn), store.EUNAVAILABLE},
		{"driver's connection closed", fmt.Errorf("store events: %w", pgconn.ErrConnClosed), store.EUNAVAILABLE},
		{"admin_shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, store.EUNAVAILABLE},
		{"cannot_connect_now", fmt.Errorf("open: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}), store.EUNAVAILABLE},
		{"connection_failure", &pgconn.PgError{Code: "08006"}, store.EUNAVAILABLE},
		{"too_many_connections", &pgconn.PgError{Code: "53300"}, store.EUNAVAILABLE},
		{"syntax error", &pgconn.PgError{Code: "42601"}, store.EINTERNAL},
		// Not the driver's: S3 refusing a connection is the destination's
		// failure, not the database's.
		{"another server refused", fmt.Errorf("put: %w", refused), store.EINTERNAL},
		{"another connection reset", fmt.Errorf("put: %w", syscall.ECONNRESET), store.EINTERNAL},
		{"another stream cut short", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.EINTERNAL},
		{"caller's deadline", fmt.Errorf("store events: %w", context.DeadlineExceeded), store.EINTERNAL},
		{"caller gone", fmt.Errorf("store events: %w", context.Canceled), store.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if tt.code == store.EUNAVAILABLE {
				if got, want := store.ErrorMessage(tt.err), store.DatabaseUnavailableMessage; got != want {
					t.Errorf("ErrorMessage = %q, want %q", got, want)
				}
				if !store.IsDatabaseUnreachable(tt.err) {
					t.Error("IsDatabaseUnreachable = false")
				}
			}
		})
	}
}

// TestRefusedConnectionIsUnavailable: the error a real pgx connection gives
// when nothing listens on the server's port.
func TestRefusedConnectionIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = store.Open(context.Background(), "postgres://postgres@"+addr+"/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("open with nothing listening succeeded")
	}
	if code := store.ErrorCode(err); code != store.EUNAVAILABLE {
		t.Errorf("ErrorCode(%v) = %q, want %q", err, code, store.EUNAVAILABLE)
	}
}

// TestBrokenSessionIsUnavailable: a real session that the server ends
// (pg_terminate_backend, as a restart or failover does) fails its next query
// with an error of code EUNAVAILABLE. PostgreSQL only.
func TestBrokenSessionIsUnavailable(t *testing.T) {
	if backend != "postgres" {
		return
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", MustDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	session, err := db.Conn(ctx) // one session, kept: the pool cannot swap it
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	var pid int
	if err := session.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = session.ExecContext(ctx, `SELECT 1`)
	if err == nil {
		t.Fatal("a query on the ended session succeeded")
	}
	if code := store.ErrorCode(err); code != store.EUNAVAILABLE {
		t.Errorf("ErrorCode(%v) = %q, want %q", err, code, store.EUNAVAILABLE)
	}
}
