package store_test

import (
	"errors"
	"fmt"
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
