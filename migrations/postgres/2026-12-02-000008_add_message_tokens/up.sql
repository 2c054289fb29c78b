-- Each message's own token count (see the SQLite twin for why). Existing
-- rows are counted the same way as there: an answer takes its
-- completion_tokens; a user message one more than the spaces, tabs and
-- line breaks inside its trimmed text, 0 if it is blank.
ALTER TABLE messages ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0);

UPDATE messages SET tokens = CASE
    WHEN role = 'assistant' THEN completion_tokens
    WHEN btrim(content, E' \t\n\r') = '' THEN 0
    ELSE length(btrim(content, E' \t\n\r'))
       - length(translate(btrim(content, E' \t\n\r'), E' \t\n\r', ''))
       + 1
END;
