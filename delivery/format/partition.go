package format

import "time"

// PartitionSkew is how far past its receipt an event's own time may lie and
// still name its partition: clocks that run a little fast are tolerated
// (the skew AWS allows in signed requests); a time further ahead is a
// broken clock, and the event goes to the hour it was received.
const PartitionSkew = 15 * time.Minute

// PartitionHour returns the UTC hour that holds an event's file when a
// mapping partitions by event time, as Kafka Connect's time-based
// partitioner does with a record's own timestamp: the hour of ts, the
// event's own time (Segment's timestamp rule, as stored). When ts is unset,
// older than window before received, or more than PartitionSkew after it,
// the event goes to the hour of received instead, so that a late or
// mis-stamped event never opens a partition far from the present; own
// reports which. The result depends only on the event, so routing the same
// event again gives the same partition.
func PartitionHour(ts, received time.Time, window time.Duration) (hour time.Time, own bool) {
	received = received.UTC()
	if ts.IsZero() || ts.Before(received.Add(-window)) || ts.After(received.Add(PartitionSkew)) {
		return received.Truncate(time.Hour), false
	}
	return ts.UTC().Truncate(time.Hour), true
}
