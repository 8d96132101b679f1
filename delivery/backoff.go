package delivery

import (
	"math"
	"time"
)

// Backoff returns how long to wait before attempt n+1 after n failed
// attempts: exponential from base, capped at max, with jitter so that many
// deliveries failing together do not retry together. jitter is a number in
// [0, 1); the wait is between half and all of the exponential step.
func Backoff(n int, base, max time.Duration, jitter float64) time.Duration {
	if n < 1 {
		n = 1
	}
	step := float64(base) * math.Pow(2, float64(n-1))
	if step > float64(max) || math.IsInf(step, 0) {
		step = float64(max)
	}
	return time.Duration(step/2 + step/2*jitter)
}
