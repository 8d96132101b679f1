package views

import (
	"strconv"
	"time"
)

// when formats a time for tables: UTC, to the second, "—" when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// isoTime is a time in the machine-readable form of <time datetime>.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func itoa(n int) string { return strconv.Itoa(n) }
