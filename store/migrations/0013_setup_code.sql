-- The one-time setup code in the database: PostgreSQL only (see
-- postgres/0013_setup_code.sql), where every replica must show the same
-- code. On SQLite one server keeps it in its data dir (web/auth.go).
SELECT 1;
