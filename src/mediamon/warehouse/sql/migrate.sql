-- The migrations' own bookkeeping: one row per applied migration, with the sha256 of the file applied.

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp);

-- name: applied
SELECT version, name, sha256 FROM schema_migrations;

-- name: record
INSERT INTO schema_migrations (version, name, sha256) VALUES (?, ?, ?);
