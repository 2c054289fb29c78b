-- Each session gets a UUIDv7 of its own, the id its owner sees and revokes
-- it by (GET /auth/sessions, DELETE /auth/sessions/{id}). The primary key
-- stays the SHA-256 of the cookie's session key: the lookup key, which
-- never leaves the server.
ALTER TABLE sessions ADD COLUMN public_id TEXT NOT NULL DEFAULT '';

-- Existing sessions get a real UUIDv7: the milliseconds of created_at,
-- version 7, random bits, the RFC 9562 variant.
UPDATE sessions SET public_id = (
    SELECT substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(r, 1, 3) || '-'
        || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(r, 4, 3) || '-' || substr(r, 7, 12)
    FROM (
        SELECT printf('%012x', CAST(strftime('%s', sessions.created_at) AS INTEGER) * 1000
                   + CAST(substr(strftime('%f', sessions.created_at), 4, 3) AS INTEGER)) AS ms,
               lower(hex(randomblob(9))) AS r
    )
);

CREATE UNIQUE INDEX sessions_public_id_idx ON sessions (public_id);
