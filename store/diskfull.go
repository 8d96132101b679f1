package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// DiskFullMessage is what users are told when a write failed for lack of
// disk space.
const DiskFullMessage = "The server's disk is full: nothing was stored. Retry later; s3relay resumes by itself once space is freed."

// isDiskFull reports whether err says the disk is full: SQLite's
// SQLITE_FULL, an SQLite I/O error whose system errno is ENOSPC or EDQUOT
// (SQLITE_IOERR_WRITE, _SHMSIZE, _FSYNC... when the WAL or its index cannot
// grow), or either errno from the file system itself.
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	// PostgreSQL's disk_full (53100).
	if pgCode(err) == "53100" {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT {
			return true
		}
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// DatabaseUnavailableMessage is what users are told when a write failed
// because PostgreSQL could not be reached (restarting, failing over, or
// refusing connections).
const DatabaseUnavailableMessage = "The database is unavailable: nothing was stored. Retry later; s3relay resumes by itself once it is back."

// isUnreachable reports whether err says the PostgreSQL server could not be
// reached or ended the session: a connection of the driver's that failed or
// broke, a connection exception (SQLSTATE class 08), a server shutting down or
// starting up (57P01, 57P02, 57P03) or out of connections (53300). The same
// request succeeds once the server is back; SQLite, in process, has none.
func isUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's own deadline or departure, not the server's absence.
		return false
	}
	switch code := pgCode(err); {
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03", code == "53300":
		return true
	case code != "":
		return false
	}
	// Only errors of the PostgreSQL driver or of database/sql count: a
	// refused connection to S3 is the destination's, not the database's.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pe interface{ SafeToRetry() bool } // pgconn's own errors
	var ne net.Error
	return errors.As(err, &pe) && (errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// IsDatabaseUnreachable reports whether err says PostgreSQL could not be
// reached: an error of code EUNAVAILABLE that is not a full disk.
func IsDatabaseUnreachable(err error) bool {
	var e *Error
	return !errors.As(err, &e) && isUnreachable(err)
}

// isUnavailable reports whether err is a write the server cannot make for
// now: a full disk, or a database out of reach.
func isUnavailable(err error) bool { return isDiskFull(err) || isUnreachable(err) }

// diskState is what the database knows of its disk: whether the last
// commit failed for lack of space, and since when.
type diskState struct {
	full    atomic.Bool
	since   atomic.Int64 // Unix ms of the first failure of this spell
	checked atomic.Int64 // Unix ms of the last free-space check
	errors  atomic.Int64 // writes refused for lack of space, ever
}

// noteWrite records the outcome of a commit: a failure for lack of space
// makes the disk full, a success makes it usable again.
func (db *DB) noteWrite(err error) {
	switch {
	case err == nil:
		if db.disk.full.Load() {
			db.disk.full.Store(false)
		}
	case isDiskFull(err):
		db.disk.errors.Add(1)
		if !db.disk.full.Swap(true) {
			db.disk.since.Store(time.Now().UnixMilli())
		}
	}
}

// DiskFull reports whether the last commit failed for lack of disk space and
// no space has come back since; since is when the first commit failed. Once
// the data dir's file system has room again it reports false, without
// waiting for the next commit to tell.
func (db *DB) DiskFull() (since time.Time, full bool) {
	if !db.disk.full.Load() {
		return time.Time{}, false
	}
	now := time.Now().UnixMilli()
	if last := db.disk.checked.Load(); now-last >= 1000 && db.disk.checked.CompareAndSwap(last, now) {
		if !db.d.postgres && freeSpace(db.path) {
			db.disk.full.Store(false)
			return time.Time{}, false
		}
	}
	return fromMS(db.disk.since.Load()), db.disk.full.Load()
}

// DiskFullErrors returns how many writes were refused for lack of disk space
// since the database was opened.
func (db *DB) DiskFullErrors() int64 { return db.disk.errors.Load() }

// freeSpace reports whether the file system holding path has room again:
// at least 1 MiB free, and 2% of its size up to 64 MiB, so that a disk
// that freed a few pages is not taken for one that has space.
func freeSpace(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return false
	}
	bsize := uint64(st.Bsize)
	free, size := st.Bavail*bsize, st.Blocks*bsize
	want := min(max(size/50, 1<<20), 64<<20)
	return free >= want
}
