-- The event pipeline: sources receive events, destinations hold mappings, the
-- engine seals events into deliveries (one S3 object each) and logs attempts.

CREATE TABLE sources (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    write_key  TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Messages refused inside otherwise accepted requests, counted per reason.
CREATE TABLE source_drops (
    source_id    TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    count        INTEGER NOT NULL DEFAULT 0,
    last_at      INTEGER NOT NULL,
    last_example TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source_id, reason)
) WITHOUT ROWID;

CREATE TABLE destinations (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    type              TEXT NOT NULL DEFAULT 'aws_s3',
    enabled           INTEGER NOT NULL DEFAULT 0,
    config            TEXT NOT NULL DEFAULT '{}',  -- JSON, no secrets
    external_id       TEXT NOT NULL DEFAULT '',
    credentials       BLOB,                        -- AES-GCM sealed JSON of key/secret/session
    wizard_step       TEXT NOT NULL DEFAULT '',
    health            TEXT NOT NULL DEFAULT 'unknown',  -- unknown|healthy|unhealthy
    health_message    TEXT NOT NULL DEFAULT '',
    health_changed_at INTEGER,
    last_test_at      INTEGER,
    last_test_ok      INTEGER,
    last_test_result  TEXT NOT NULL DEFAULT '',    -- JSON of the last connection test
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE destination_sources (
    destination_id TEXT NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    source_id      TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    PRIMARY KEY (destination_id, source_id)
) WITHOUT ROWID;
CREATE INDEX destination_sources_source ON destination_sources(source_id);

CREATE TABLE mappings (
    id                          TEXT PRIMARY KEY,
    destination_id              TEXT NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    position                    INTEGER NOT NULL DEFAULT 0,
    name                        TEXT NOT NULL,
    enabled                     INTEGER NOT NULL DEFAULT 1,
    trigger                     TEXT NOT NULL,
    format                      TEXT NOT NULL,
    columns                     TEXT NOT NULL DEFAULT '[]',  -- JSON array of {name, value, transform}
    delimiter                   TEXT NOT NULL DEFAULT ',',
    file_extension              TEXT NOT NULL DEFAULT '',
    compression                 TEXT NOT NULL DEFAULT 'none',
    key_preset                  TEXT NOT NULL DEFAULT '',
    folder                      TEXT NOT NULL DEFAULT '',
    filename_prefix             TEXT NOT NULL DEFAULT '',
    key_template                TEXT NOT NULL DEFAULT '',
    batch_size                  INTEGER NOT NULL,
    batch_max_bytes             INTEGER NOT NULL,
    batch_max_age_seconds       INTEGER NOT NULL,
    batch_size_column_name      TEXT NOT NULL DEFAULT '',
    audience_action_column_name TEXT NOT NULL DEFAULT '',
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
);
CREATE INDEX mappings_destination ON mappings(destination_id, position);

-- Every accepted message, in commit order. seq is the engine's cursor; the
-- unique (source_id, message_id) pair is the de-duplication key.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'segment',  -- segment|publish
    type        TEXT NOT NULL,                    -- track, identify, ... or the publish topic's kind
    name        TEXT NOT NULL DEFAULT '',         -- track event name, page/screen name, or publish topic
    received_at INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    body        BLOB NOT NULL,                    -- the normalized message, JSON
    UNIQUE (source_id, message_id)
);
CREATE INDEX events_source_seq ON events(source_id, seq);

-- Where the engine stands per mapping: every event with seq <= routed_seq has
-- been considered and, when it matched, sealed into a delivery.
CREATE TABLE mapping_cursors (
    mapping_id TEXT PRIMARY KEY REFERENCES mappings(id) ON DELETE CASCADE,
    routed_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,  -- time-ordered, the keyset pagination cursor
    destination_id   TEXT NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    mapping_id       TEXT NOT NULL REFERENCES mappings(id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    partition        TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,     -- pending|uploading|delivered|retrying|failed
    test             INTEGER NOT NULL DEFAULT 0,
    events           INTEGER NOT NULL,
    bytes            INTEGER NOT NULL DEFAULT 0,
    content_type     TEXT NOT NULL DEFAULT '',
    content_encoding TEXT NOT NULL DEFAULT '',
    checksum         TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_event_at   INTEGER,
    last_event_at    INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    next_attempt_at  INTEGER,
    last_error       TEXT NOT NULL DEFAULT '',
    last_error_code  TEXT NOT NULL DEFAULT '',
    min_seq          INTEGER,           -- the range of its events' seqs: with
    max_seq          INTEGER,           -- mapping_id, a range of delivery_events
    UNIQUE (destination_id, key)
);
CREATE INDEX deliveries_status_next ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_destination ON deliveries(destination_id, id);
CREATE INDEX deliveries_mapping ON deliveries(mapping_id, id);
CREATE INDEX deliveries_status_id ON deliveries(status, id);
-- The dashboard's throughput chart: delivered events over time.
CREATE INDEX deliveries_delivered ON deliveries(delivered_at, events) WHERE status = 'delivered';

-- Exact membership of each delivery, persisted before its upload. The primary
-- key makes "one event in at most one file per mapping" a database rule, and
-- it is the only index: a delivery's events are the rows of its mapping in
-- its [min_seq, max_seq] range that name it.
CREATE TABLE delivery_events (
    mapping_id  TEXT NOT NULL REFERENCES mappings(id) ON DELETE CASCADE,
    event_seq   INTEGER NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    PRIMARY KEY (mapping_id, event_seq)
) WITHOUT ROWID;

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    code        TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, n);
