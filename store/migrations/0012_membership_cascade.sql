-- Membership without per-row foreign-key checks: PostgreSQL only (see
-- postgres/0012_membership_cascade.sql), where each check is a trigger and a
-- row lock per event. SQLite checks a foreign key with one lookup in the
-- parent's primary key, in process, so its delivery_events keep theirs.
SELECT 1;
