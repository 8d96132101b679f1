package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in attempts allowed per client address and per email: a burst, then
// one every six seconds.
const (
	loginEvery = 6 * time.Second
	loginBurst = 10
	// loginMaxKeys bounds the limiter's table. Keys are short (an address,
	// an email of at most 254 bytes, hashed past maxLimiterKey), so the
	// table stays within a few megabytes whatever arrives.
	loginMaxKeys = 20000
	// maxLimiterKey is the longest key stored as it is; longer keys are
	// stored as their SHA-256.
	maxLimiterKey = 300
)

// limiter is a token bucket (golang.org/x/time/rate) per key: a client
// address, an email. Keys that have been idle long enough to be full again
// are swept, so the table holds only the keys seen within the last refill
// window, and never more than max.
//
// A full table does not grow and does not evict: a key without a bucket
// shares one overflow bucket with every other such key until a sweep makes
// room. Evicting would hand an attacker who floods distinct keys a fresh
// bucket for the key he cares about; refusing every new key outright would
// let the same flood lock everyone out. Sharing keeps memory bounded, keeps
// the buckets of keys already seen, and slows newcomers to one shared rate
// for at most one refill window.
type limiter struct {
	mu        sync.Mutex
	r         rate.Limit
	burst     int
	max       int
	buckets   map[string]*bucket
	overflow  *rate.Limiter
	lastSweep time.Time
	now       func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(every time.Duration, burst, maxKeys int) *limiter {
	r := rate.Every(every)
	return &limiter{r: r, burst: burst, max: maxKeys, buckets: map[string]*bucket{},
		overflow: rate.NewLimiter(r, burst), now: time.Now}
}

// full is how long an idle bucket takes to refill completely.
func (l *limiter) full() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.r) * float64(time.Second))
}

func limiterKey(k string) string {
	if len(k) <= maxLimiterKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lookup returns key's limiter, creating it when create is set and there is
// room; the overflow limiter when the table is full. Without create, a
// missing key yields nil when there is room (a new key would start full).
func (l *limiter) lookup(key string, now time.Time, create bool) *rate.Limiter {
	key = limiterKey(key)
	if now.Sub(l.lastSweep) >= l.full() {
		l.sweep(now)
	}
	if b, ok := l.buckets[key]; ok {
		b.seen = now
		return b.lim
	}
	if len(l.buckets) >= l.max {
		l.sweep(now)
	}
	if len(l.buckets) >= l.max {
		return l.overflow
	}
	if !create {
		return nil
	}
	b := &bucket{lim: rate.NewLimiter(l.r, l.burst), seen: now}
	l.buckets[key] = b
	return b.lim
}

// take takes one token from key's bucket and reports whether there was one.
func (l *limiter) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.lookup(key, now, true).AllowN(now, 1)
}

// ready reports whether key's bucket has a token, without taking it and
// without creating a bucket.
func (l *limiter) ready(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.lookup(key, now, false)
	return lim == nil || lim.TokensAt(now) >= 1
}

// clock returns the limiter's time, which tests set.
func (l *limiter) clock() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now()
}

// reset forgets key's bucket: its next request starts with a full burst.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, limiterKey(key))
}

// size returns the number of keys held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep drops buckets idle long enough to have refilled completely: they are
// indistinguishable from a new one. A sweep costs one pass over at most max
// keys, and runs at most once per refill window unless the table is full;
// then at most once a second, so a flood does not pay a pass per request.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	full := l.full()
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, k)
		}
	}
}

// addressKey is the limiter key of a client address. IPv6 clients are
// grouped by their /64, which one host usually owns whole: otherwise each
// of its 2^64 addresses would have a bucket of its own.
func addressKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return "ip:" + ip
	}
	return "ip:" + a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// emailKey is the limiter key of an email, whatever its case.
func emailKey(email string) string { return "email:" + strings.ToLower(email) }
