-- The messages of a conversation, oldest first by (created_at, id). A user
-- message and its answer are written together, in one transaction, once
-- the answer is complete. Token counts are the provider's, on the
-- assistant message (prompt and completion) and 0 on the user's.
CREATE TABLE messages (
    id                TEXT      NOT NULL PRIMARY KEY,
    conversation_id   TEXT      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role              TEXT      NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content           TEXT      NOT NULL,
    prompt_tokens     INTEGER   NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER   NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    created_at        TIMESTAMP NOT NULL
);

CREATE INDEX messages_conversation_id_created_at_idx ON messages (conversation_id, created_at, id);
