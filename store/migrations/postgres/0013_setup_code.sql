-- The one-time setup code, shared by every replica until an administrator
-- exists (PostgreSQL only: SQLite's one server keeps it in its data dir, see
-- ../0013_setup_code.sql). One row, written by whichever replica starts
-- first and read by the others, sealed with the key all replicas share.
CREATE TABLE setup_code (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    code       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
