-- The replicas that ran on this database (PostgreSQL form of
-- ../0014_replicas.sql).
CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    version    TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    stopped_at BIGINT
);
