-- Which time names a mapping's folders: received (the time its files are
-- sealed, as before) or event (the events' own hour, within a window of
-- hours before their receipt).
ALTER TABLE mappings ADD COLUMN partition_time TEXT NOT NULL DEFAULT 'received';
ALTER TABLE mappings ADD COLUMN partition_window_hours BIGINT NOT NULL DEFAULT 168;
