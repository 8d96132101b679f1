-- Events without a per-row foreign-key check (PostgreSQL form of
-- ../0015_events_source.sql).
--
-- The check on events.source_id was a trigger and a row lock on the source
-- for every stored event: about a sixth of the database's work per event.
-- The appender now locks each source of a group commit once (FOR KEY SHARE,
-- the lock the check took) in the statement that inserts the events, and
-- inserts nothing when one of them is gone (store/append.go), so no event is
-- stored for a deleted source. What ON DELETE CASCADE did, deleting a
-- source's events with it, a statement trigger does, once per DELETE; the
-- DELETE waits for the inserts holding the source's lock, so it also deletes
-- the events they committed.
ALTER TABLE events DROP CONSTRAINT events_source_id_fkey;

CREATE FUNCTION events_follow_sources() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events e USING gone WHERE e.source_id = gone.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sources_delete_events AFTER DELETE ON sources
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION events_follow_sources();
