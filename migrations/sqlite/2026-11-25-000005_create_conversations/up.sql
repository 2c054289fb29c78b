-- Saved playground conversations. The system prompt is the conversation's
-- (sent to the provider first, never stored as a message). Lists page
-- newest first by (created_at, id), hence the index.
CREATE TABLE conversations (
    id            TEXT      NOT NULL PRIMARY KEY,
    user_id       TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model         TEXT      NOT NULL,
    title         TEXT,
    system_prompt TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE INDEX conversations_user_id_created_at_idx ON conversations (user_id, created_at, id);
