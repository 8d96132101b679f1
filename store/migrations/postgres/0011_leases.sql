-- Leases (PostgreSQL form of ../0011_leases.sql).
-- Several replicas on one database. A lease names the one replica allowed to
-- do a job (the router) until expires_at (Unix ms); its holder renews it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Which replica made each upload attempt.
ALTER TABLE delivery_attempts ADD COLUMN replica TEXT NOT NULL DEFAULT '';

-- An uploading delivery is leased to one replica until lease_expires_at; once
-- it has expired, any replica returns the delivery to pending.
ALTER TABLE deliveries ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE deliveries ADD COLUMN attempt_started_at BIGINT;
CREATE INDEX deliveries_lease ON deliveries(lease_expires_at) WHERE status = 'uploading';
-- Uploads left by a process before this migration have no lease: expired,
-- they are resumed by the first replica that looks.
UPDATE deliveries SET lease_expires_at = 0 WHERE status = 'uploading';
