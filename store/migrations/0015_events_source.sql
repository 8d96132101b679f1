-- Events without a per-row foreign-key check: PostgreSQL only (see
-- postgres/0015_events_source.sql), where each check is a trigger and a row
-- lock per event. SQLite checks a foreign key with one lookup in the parent's
-- primary key, in process, so its events keep theirs.
SELECT 1;
