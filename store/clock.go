package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// On PostgreSQL the time of every replica is the database server's: a
// replica reads its own clock corrected by its measured offset from
// PostgreSQL's. Leases are written by one replica and compared by another
// (the router's, and each upload's), so a replica whose own clock runs ahead
// would otherwise take a lease that is still held, and one whose clock runs
// behind would keep using an expired one; stored times (received, attempted)
// would not order across replicas either. SQLite has one process and uses its
// clock as it is.

// clockResync is how often a replica measures its offset again.
const clockResync = 30 * time.Second

// dbClock is a replica's estimate of the database server's clock.
type dbClock struct {
	local   func() time.Time // this process's clock; tests skew it
	offset  atomic.Int64     // the server's clock minus local, in nanoseconds
	next    atomic.Int64     // local Unix nanoseconds of the next measurement
	syncing atomic.Bool
}

// useServerClock makes db.Now the database server's time.
func (db *DB) useServerClock() {
	db.clock.local = time.Now
	db.Now = func() time.Time {
		now := db.clock.local()
		if now.UnixNano() >= db.clock.next.Load() && db.clock.syncing.CompareAndSwap(false, true) {
			db.clock.next.Store(now.Add(clockResync).UnixNano())
			go func() {
				defer db.clock.syncing.Store(false)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				// A failed measurement keeps the last offset; the database being
				// unreachable is reported by what needed it.
				db.syncClock(ctx)
			}()
		}
		return now.Add(time.Duration(db.clock.offset.Load())).UTC().Truncate(time.Millisecond)
	}
}

// syncClock measures the offset from the server's clock: the best of three
// round trips, the server's reading taken as the middle of its round trip.
func (db *DB) syncClock(ctx context.Context) error {
	var best time.Duration = -1
	var offset time.Duration
	for i := 0; i < 3; i++ {
		var us int64
		t0 := db.clock.local()
		err := db.read.QueryRowContext(ctx, `SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS BIGINT)`).Scan(&us)
		t1 := db.clock.local()
		if err != nil {
			return fmt.Errorf("read the database's clock: %w", err)
		}
		if rtt := t1.Sub(t0); best < 0 || rtt < best {
			best, offset = rtt, time.UnixMicro(us).Sub(t0.Add(rtt/2))
		}
	}
	db.clock.offset.Store(int64(offset))
	db.clock.next.Store(db.clock.local().Add(clockResync).UnixNano())
	return nil
}

// ClockOffset is how far the database server's clock is ahead of this
// process's (negative when behind), as last measured; 0 on SQLite.
func (db *DB) ClockOffset() time.Duration { return time.Duration(db.clock.offset.Load()) }
