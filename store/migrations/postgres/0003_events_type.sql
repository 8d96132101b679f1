-- The events page filters by call type, newest first: without an index a
-- rare type meant reading every stored event.
CREATE INDEX events_type_seq ON events(type, seq);
