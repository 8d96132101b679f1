-- Browsers: the web origins allowed to send events with a source's write key,
-- one per line; empty means any origin.
ALTER TABLE sources ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '';
