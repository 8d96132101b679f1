// Package pgtest starts a throw-away PostgreSQL server for tests, the way
// delivery/s3/miniotest starts MinIO: one cluster per test process (initdb in
// a temporary directory, a free loopback port, fsync off), and a fresh
// database per test so tests never see each other's rows. It never skips: when
// PostgreSQL cannot start, the test fails with the reason (run .ci/testdeps to
// install it).
//
// When the test process runs as root the server runs as the "postgres" user,
// since PostgreSQL refuses to run as root. The kernel kills the server when
// the test process dies (parent death signal); Stop, called from TestMain,
// also removes its directory.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	// The pgx database/sql driver registers itself as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// EnvBinDir names PostgreSQL's bin directory (initdb, postgres); by default
// the newest /usr/lib/postgresql/N/bin, else the PATH.
const EnvBinDir = "S3RELAY_PG_BINDIR"

type cluster struct {
	dir  string
	port int
	cmd  *exec.Cmd
	err  error

	bin  string              // PostgreSQL's bin directory
	cred *syscall.Credential // the postgres user's, when running as root
	done chan struct{}       // closed when the running server exits
}

var (
	once    sync.Once
	shared  cluster
	counter atomic.Int64
)

// URL creates a new empty database on the shared server and returns its
// postgres:// URL. The database is dropped in tb.Cleanup.
func URL(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { shared.err = shared.start() })
	if shared.err != nil {
		tb.Fatalf("pgtest: PostgreSQL did not start (run .ci/testdeps): %v", shared.err)
	}
	return shared.newDB(tb)
}

func (c *cluster) newDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), counter.Add(1))
	admin, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { c.dropDB(name) })
	return c.url(name)
}

// dropDB drops a database, closing its connections.
func (c *cluster) dropDB(name string) error {
	admin, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	return err
}

// Drop drops the database of a URL from URL now, its connections closed,
// rather than at the end of the test, then lets the shared server settle:
// it writes a checkpoint and waits (up to a minute) until no autovacuum
// worker runs. Benchmarks call it between the runs they compare, so that one
// run's leftovers (vacuuming its tables, writing its dirty pages) do not
// slow the next.
func Drop(tb testing.TB, dbURL string) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if err := shared.dropDB(strings.TrimPrefix(u.Path, "/")); err != nil {
		tb.Fatalf("pgtest: drop database: %v", err)
	}
	admin, err := sql.Open("pgx", shared.url("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, `CHECKPOINT`); err != nil {
		tb.Fatalf("pgtest: checkpoint: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var workers int
		if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`).Scan(&workers); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		if workers == 0 {
			return
		}
	}
}

// Server is a PostgreSQL server of one test's own, which the test may stop
// and start again (a database restart or failover, as its clients see it)
// without disturbing the tests that share the other one.
type Server struct{ c cluster }

// NewServer starts a server for tb alone; tb.Cleanup stops it and removes
// its directory.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{}
	tb.Cleanup(func() { s.c.remove() })
	if err := s.c.start(); err != nil {
		tb.Fatalf("pgtest: PostgreSQL did not start (run .ci/testdeps): %v", err)
	}
	return s
}

// URL creates a new empty database on the server and returns its URL.
func (s *Server) URL(tb testing.TB) string {
	tb.Helper()
	return s.c.newDB(tb)
}

// Stop shuts the server down the fast way: open sessions are ended,
// transactions in progress roll back, and connections are refused until
// Start.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.c.stop(); err != nil {
		tb.Fatalf("pgtest: stop: %v", err)
	}
}

// Start starts the stopped server again, on the same port with the same
// data.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.c.run(); err != nil {
		tb.Fatalf("pgtest: start again: %v", err)
	}
}

// Stop stops the shared server, when one was started, and removes its
// directory. Call it from TestMain after m.Run.
func Stop() { shared.remove() }

// stop shuts the server down (fast shutdown), killing it after 10 s.
func (c *cluster) stop() error {
	if c.cmd == nil || c.done == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	return nil
}

// remove stops the server and removes its directory.
func (c *cluster) remove() {
	c.stop()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

func (c *cluster) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + db}
	u.RawQuery = "sslmode=disable"
	return u.String()
}

// BinDir returns the directory of initdb and postgres.
func BinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestV := "", -1
	for _, m := range matches {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL found: neither /usr/lib/postgresql/*/bin nor initdb on PATH; run .ci/testdeps")
	}
	return filepath.Dir(p), nil
}

func (c *cluster) start() error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs a postgres user (installed with Debian's postgresql): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	sweep()
	c.dir, err = os.MkdirTemp("", "s3relay-pgtest-")
	if err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Dir = c.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.bin, c.cred = bin, cred
	return c.run()
}

// run starts the initialized server on its port and waits until it answers.
func (c *cluster) run() error {
	bin, cred, data := c.bin, c.cred, filepath.Join(c.dir, "data")
	logf, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(c.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	// The parent death signal follows the thread that started the process:
	// keep this goroutine on its thread for the server's life.
	started := make(chan error, 1)
	cmd, done := c.cmd, make(chan struct{})
	c.done = done
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		// Waited for on this thread, which holds it for the server's life:
		// the kernel signals the server when the thread that started it
		// exits.
		cmd.Wait()
		logf.Close()
		// Then unlocked rather than left locked: a goroutine that ends
		// locked takes its thread down with it, and the kernel would kill
		// every other child process started from that thread (MinIO's parent
		// death signal too).
		runtime.UnlockOSThread()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("pgx", c.url("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			return fmt.Errorf("postgres did not answer on port %d: %v; log: %s", c.port, err, strings.TrimSpace(string(log)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweep removes the directories of clusters whose test process died without
// calling Stop (the kernel killed their servers): older than an hour, and no
// server running in them.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "s3relay-pgtest-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if pid, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(pid), "\n")
			if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && syscall.Kill(n, 0) == nil {
				continue
			}
		}
		os.RemoveAll(d)
	}
}
