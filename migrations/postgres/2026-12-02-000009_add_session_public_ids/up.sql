-- Each session gets a UUIDv7 of its own (see the SQLite twin).
ALTER TABLE sessions ADD COLUMN public_id TEXT NOT NULL DEFAULT '';

-- Existing sessions get a real UUIDv7: the milliseconds of created_at,
-- version 7, random bits, the RFC 9562 variant.
UPDATE sessions SET public_id = (
    SELECT substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(r, 1, 3) || '-'
        || substr('89ab', 1 + floor(random() * 4)::int, 1) || substr(r, 4, 3) || '-' || substr(r, 7, 12)
    FROM (
        SELECT lpad(to_hex(floor(extract(epoch FROM sessions.created_at) * 1000)::bigint), 12, '0') AS ms,
               md5(random()::text || sessions.id) AS r
    ) AS parts
);

CREATE UNIQUE INDEX sessions_public_id_idx ON sessions (public_id);
