-- Failed logins per email, for the brute-force limit. One row per email
-- (lower-cased, whether or not an account has it, so the limit reveals
-- nothing): a fixed window opens at the first failure and counts failures
-- until it ends. Kept in the database so that every server process on this
-- database shares the count.
CREATE TABLE login_failures (
    email             TEXT      NOT NULL PRIMARY KEY COLLATE NOCASE,
    failures          INTEGER   NOT NULL CHECK (failures > 0),
    window_started_at TIMESTAMP NOT NULL
);

CREATE INDEX login_failures_window_started_at_idx ON login_failures (window_started_at);
