-- Dashboard users, their server-side sessions, and management API tokens.
-- (PostgreSQL form of ../0001_accounts.sql.)
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,  -- Unix ms, UTC
    last_login_at BIGINT
);
-- SQLite's COLLATE NOCASE: emails are unique whatever their case.
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    remote_ip    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- PostgreSQL only: the check value of the key material every replica must
-- share (see DB.CheckKey). On SQLite the key file sits beside the database.
CREATE TABLE key_check (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
