-- A destination's health carries the latest failure's code and how many
-- attempts failed since its last success; a delivery remembers when its
-- current run of retryable failures began, which bounds its retry window.
ALTER TABLE destinations ADD COLUMN health_code TEXT NOT NULL DEFAULT '';
ALTER TABLE destinations ADD COLUMN health_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN retrying_since BIGINT;
-- A success wakes its destination's waiting retries.
CREATE INDEX deliveries_destination_status ON deliveries(destination_id, status, next_attempt_at);
