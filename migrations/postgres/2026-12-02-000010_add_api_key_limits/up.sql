-- Limits and budgets per API key, and the meters that enforce them (see
-- the SQLite twin for what each column means).
ALTER TABLE api_keys
    ADD COLUMN requests_per_minute BIGINT
        CHECK (requests_per_minute BETWEEN 1 AND 1000000),
    ADD COLUMN tokens_per_minute BIGINT
        CHECK (tokens_per_minute BETWEEN 1 AND 100000000),
    ADD COLUMN token_budget BIGINT
        CHECK (token_budget BETWEEN 1 AND 1000000000000),
    ADD COLUMN budget_period TEXT,
    ADD COLUMN allowed_models TEXT,
    ADD COLUMN minute_started_at TIMESTAMP,
    ADD COLUMN minute_requests BIGINT NOT NULL DEFAULT 0 CHECK (minute_requests >= 0),
    ADD COLUMN minute_tokens BIGINT NOT NULL DEFAULT 0 CHECK (minute_tokens >= 0),
    ADD COLUMN period_started_at TIMESTAMP,
    ADD COLUMN period_used BIGINT NOT NULL DEFAULT 0 CHECK (period_used >= 0),
    ADD COLUMN period_reserved BIGINT NOT NULL DEFAULT 0 CHECK (period_reserved >= 0),
    ADD CONSTRAINT api_keys_budget_period_check
        CHECK ((budget_period IS NULL) = (token_budget IS NULL)
               AND (budget_period IS NULL OR budget_period IN ('day', 'month')));
