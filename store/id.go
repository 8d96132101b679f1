package store

import (
	"io"
	"sync"

	"github.com/oklog/ulid/v2"
)

// lockedMonotonic makes ulid's monotonic entropy safe for concurrent use, so
// identifiers made in the same millisecond still sort in creation order.
type lockedMonotonic struct {
	mu sync.Mutex
	m  *ulid.MonotonicEntropy
}

var _ io.Reader = (*lockedMonotonic)(nil)

func (l *lockedMonotonic) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Read(p)
}

func (l *lockedMonotonic) MonotonicRead(ms uint64, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.MonotonicRead(ms, p)
}
