-- Membership without per-row foreign-key checks (PostgreSQL form of
-- ../0012_membership_cascade.sql).
--
-- delivery_events rows are written only by SealDeliveries, in the transaction
-- that inserts their delivery, for that delivery's mapping: checking each row
-- against deliveries and mappings (a trigger and a row lock per event) cost
-- more than the insert itself. What the foreign keys also did, deleting the
-- rows with their delivery (directly, or through a mapping's or a
-- destination's deletion), a statement trigger does, once per DELETE.
ALTER TABLE delivery_events DROP CONSTRAINT delivery_events_mapping_id_fkey;
ALTER TABLE delivery_events DROP CONSTRAINT delivery_events_delivery_id_fkey;

CREATE FUNCTION delivery_events_follow_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_events de USING gone WHERE de.delivery_id = gone.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_delete_membership AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_events_follow_deliveries();
