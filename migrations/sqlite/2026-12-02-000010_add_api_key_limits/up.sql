-- Limits and budgets per API key, and the meters that enforce them.
--
-- Limits (NULL: no limit): requests and tokens per minute, a token budget
-- per UTC calendar day or month, and a list of allowed model ids (a JSON
-- array of strings; NULL: every model).
--
-- Meters, written by admission (one UPDATE of this row per request, so a
-- burst from any number of processes cannot overshoot):
-- - minute_*: the fixed UTC minute starting at minute_started_at, the
--   requests and tokens admitted in it (reserved, then settled);
-- - period_*: the budget period starting at period_started_at, the tokens
--   settled in it (period_used, what `budget_used` shows) and the tokens
--   reserved by requests still running (period_reserved).
-- A meter whose start is not the current minute or period counts as zero.
ALTER TABLE api_keys ADD COLUMN requests_per_minute BIGINT
    CHECK (requests_per_minute BETWEEN 1 AND 1000000);
ALTER TABLE api_keys ADD COLUMN tokens_per_minute BIGINT
    CHECK (tokens_per_minute BETWEEN 1 AND 100000000);
ALTER TABLE api_keys ADD COLUMN token_budget BIGINT
    CHECK (token_budget BETWEEN 1 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN budget_period TEXT
    CHECK ((budget_period IS NULL) = (token_budget IS NULL)
           AND (budget_period IS NULL OR budget_period IN ('day', 'month')));
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT;
ALTER TABLE api_keys ADD COLUMN minute_started_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN minute_requests BIGINT NOT NULL DEFAULT 0
    CHECK (minute_requests >= 0);
ALTER TABLE api_keys ADD COLUMN minute_tokens BIGINT NOT NULL DEFAULT 0
    CHECK (minute_tokens >= 0);
ALTER TABLE api_keys ADD COLUMN period_started_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN period_used BIGINT NOT NULL DEFAULT 0
    CHECK (period_used >= 0);
ALTER TABLE api_keys ADD COLUMN period_reserved BIGINT NOT NULL DEFAULT 0
    CHECK (period_reserved >= 0);
