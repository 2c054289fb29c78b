-- Each message's own token count, stored with it, so that choosing the
-- history that fits a model's context window reads only the newest
-- messages and never counts a stored message again.
--
-- New rows get it from the application: an answer's count is the
-- provider's completion_tokens; a user message's is Promptyard's estimate
-- (whitespace-separated words). Existing rows are filled here the same
-- way: an answer takes its completion_tokens; a user message takes the
-- number of words SQL can count, one more than the spaces, tabs and line
-- breaks inside its trimmed text. That equals the application's count for
-- text with single separators and exceeds it where separators repeat: the
-- estimate errs toward sending less history, never more than fits.
ALTER TABLE messages ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0);

UPDATE messages SET tokens = CASE
    WHEN role = 'assistant' THEN completion_tokens
    WHEN trim(content, ' ' || char(9) || char(10) || char(13)) = '' THEN 0
    ELSE length(trim(content, ' ' || char(9) || char(10) || char(13)))
       - length(replace(replace(replace(replace(
             trim(content, ' ' || char(9) || char(10) || char(13)),
             ' ', ''), char(9), ''), char(10), ''), char(13), ''))
       + 1
END;
