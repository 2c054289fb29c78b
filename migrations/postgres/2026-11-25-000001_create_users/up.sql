-- Accounts (PostgreSQL; the SQLite twin is ../../sqlite/, same version).
-- Emails compare case-insensitively, as SQLite's COLLATE NOCASE does: a
-- nondeterministic ICU collation on the column, so the unique index and
-- every `email = $1` ignore case. Ids are UUIDv7 text; timestamps are UTC
-- without a zone (diesel's Timestamp), millisecond precision from the app.
CREATE COLLATION IF NOT EXISTS promptyard_nocase (
    provider = icu, locale = 'und-u-ks-level2', deterministic = false
);

CREATE TABLE users (
    id            TEXT      NOT NULL PRIMARY KEY,
    email         TEXT      NOT NULL COLLATE promptyard_nocase,
    password_hash TEXT      NOT NULL,
    is_active     BOOLEAN   NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email);
