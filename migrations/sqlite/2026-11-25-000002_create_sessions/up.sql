-- Server-side login sessions. The cookie carries a random session key; only
-- its SHA-256 (hex) is stored, as the id, so a copy of the database does not
-- hand out live sessions. `state` is the actix-session state as a JSON object.
CREATE TABLE sessions (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT        NOT NULL,
    created_at   TIMESTAMP   NOT NULL,
    last_seen_at TIMESTAMP   NOT NULL,
    expires_at   TIMESTAMP   NOT NULL,
    user_agent   TEXT
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
