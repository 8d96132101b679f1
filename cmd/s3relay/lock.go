package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockFile is the name, inside the data dir, of the file "s3relay serve"
// holds an exclusive lock on while it runs, so that a second server on the
// same data dir refuses to start. It contains the server's pid.
const lockFile = "s3relay.lock"

// dataDirLock is a held lock on a data dir. The kernel releases it when the
// process ends, however it ends, so a killed server never leaves it stale.
type dataDirLock struct{ f *os.File }

// errDataDirInUse is returned by lockDataDir when another process holds the
// lock.
type errDataDirInUse struct {
	dataDir string
	pid     string
}

func (e *errDataDirInUse) Error() string {
	return fmt.Sprintf("data dir %s is in use by %s: stop it first, or give this server its own --data-dir", e.dataDir, e.who())
}

// who names the process holding the lock.
func (e *errDataDirInUse) who() string {
	if e.pid == "" {
		return "another s3relay server"
	}
	return "another s3relay server (pid " + e.pid + ")"
}

// lockDataDir takes the data dir's exclusive lock, and writes this
// process's pid into the lock file. It returns an *errDataDirInUse at once
// when another server holds the lock. CLI commands hold a shared lock for
// the few milliseconds they work: lockDataDir waits for them, a while.
func lockDataDir(dataDir string) (*dataDirLock, error) {
	f, err := openLockFile(dataDir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock data dir: %w", err)
		}
		// A shared lock granted means only CLI commands hold it (a server
		// holds it exclusively): they finish soon.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil || time.Now().After(deadline) {
			f.Close()
			return nil, inUse(dataDir)
		}
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		time.Sleep(20 * time.Millisecond)
	}
	// The pid only tells a second server whom to name: a full disk that
	// refuses to store it must not keep this one from starting.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataDirLock{f: f}, nil
}

// shareDataDir takes the data dir's lock shared, without waiting: the lock
// of a CLI command, which may run beside other CLI commands. It returns an
// *errDataDirInUse when a server holds the lock.
func shareDataDir(dataDir string) (*dataDirLock, error) {
	f, err := openLockFile(dataDir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUse(dataDir)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return &dataDirLock{f: f}, nil
}

func openLockFile(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}

// inUse names the server that holds the data dir, from the pid it wrote.
func inUse(dataDir string) error {
	b, _ := os.ReadFile(filepath.Join(dataDir, lockFile))
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		pid = ""
	}
	return &errDataDirInUse{dataDir: dataDir, pid: pid}
}

// Release gives the lock up. The pid stays in the file; it means nothing
// without the lock.
func (l *dataDirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// replicaFile is the name, inside the data dir, of the file that holds the
// replica id of the server that last ran on it.
const replicaFile = "replica-id"

// rememberReplica records id as the data dir's replica and returns the one
// recorded before, if any: with the data dir locked, that process is dead.
func rememberReplica(dataDir, id string) ([]string, error) {
	path := filepath.Join(dataDir, replicaFile)
	var prev []string
	if b, err := os.ReadFile(path); err == nil {
		if p := strings.TrimSpace(string(b)); p != "" {
			prev = append(prev, p)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read replica id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("record replica id: %w", err)
	}
	return prev, nil
}
