-- Token accounting, one row per completed exchange, from the playground or
-- the /v1 gateway. Kept when a conversation is deleted (it is accounting),
-- deleted with the user.
CREATE TABLE usage_records (
    id                TEXT      NOT NULL PRIMARY KEY,
    user_id           TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model             TEXT      NOT NULL,
    source            TEXT      NOT NULL CHECK (source IN ('playground', 'gateway')),
    prompt_tokens     INTEGER   NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER   NOT NULL CHECK (completion_tokens >= 0),
    created_at        TIMESTAMP NOT NULL
);

CREATE INDEX usage_records_user_id_model_idx ON usage_records (user_id, model);
