package web

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in attempts allowed per client address and per email: a burst, then
// one every six seconds.
const (
	loginRate  = rate.Limit(1.0 / 6)
	loginBurst = 10
)

// limiter is a token bucket per key (a client address, an email), forgetting
// keys that have been idle long enough to be full again.
type limiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int) *limiter {
	return &limiter{r: r, burst: burst, buckets: map[string]*bucket{}, now: time.Now}
}

// allow takes one token from every key's bucket and reports whether all had
// one. A request refused by one key still costs the others, so spreading
// guesses over many emails from one address does not help.
func (l *limiter) allow(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) > 10000 {
		l.sweep(now)
	}
	ok := true
	for _, k := range keys {
		b, found := l.buckets[k]
		if !found {
			b = &bucket{lim: rate.NewLimiter(l.r, l.burst)}
			l.buckets[k] = b
		}
		b.seen = now
		if !b.lim.AllowN(now, 1) {
			ok = false
		}
	}
	return ok
}

// sweep drops buckets idle long enough to have refilled completely.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.r) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}
