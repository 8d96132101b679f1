-- The replicas (server processes) that ran on this database, for the
-- settings page and GET /api/v1/replicas: each engine records itself every
-- few seconds while it runs, and its stop when it stops cleanly.
CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    version    TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    stopped_at INTEGER
);
