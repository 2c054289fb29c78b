-- Accounts. Emails are stored lower-cased by the service layer and compared
-- case-insensitively here as well (COLLATE NOCASE on the column, so the
-- unique index and every `email = ?` lookup ignore ASCII case).
-- Ids are UUIDv7 text; timestamps are UTC text written by diesel's
-- Timestamp ("YYYY-MM-DD HH:MM:SS.sss", always UTC), which sorts as time.
CREATE TABLE users (
    id            TEXT        NOT NULL PRIMARY KEY,
    email         TEXT        NOT NULL COLLATE NOCASE,
    password_hash TEXT        NOT NULL,
    is_active     BOOLEAN     NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at    TIMESTAMP   NOT NULL,
    updated_at    TIMESTAMP   NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email);
