-- Failed logins per email, for the brute-force limit (see the SQLite twin).
-- The email compares case-insensitively, like users.email.
CREATE TABLE login_failures (
    email             TEXT      NOT NULL PRIMARY KEY COLLATE promptyard_nocase,
    failures          INTEGER   NOT NULL CHECK (failures > 0),
    window_started_at TIMESTAMP NOT NULL
);

CREATE INDEX login_failures_window_started_at_idx ON login_failures (window_started_at);
