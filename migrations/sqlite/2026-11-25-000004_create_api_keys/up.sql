-- Personal API keys. A key reads `pyk_<public_id>_<secret>`; only the
-- SHA-256 of the secret is kept (32 bytes), and the key is found by its
-- public id. A revoked key keeps its row (revoked_at) so its use can be
-- explained; an expired one too (expires_at).
CREATE TABLE api_keys (
    id           TEXT      NOT NULL PRIMARY KEY,
    user_id      TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT      NOT NULL,
    public_id    TEXT      NOT NULL,
    secret_hash  BLOB      NOT NULL CHECK (length(secret_hash) = 32),
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

CREATE UNIQUE INDEX api_keys_public_id_key ON api_keys (public_id);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at);
