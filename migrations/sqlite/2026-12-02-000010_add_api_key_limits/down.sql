-- budget_period first: its CHECK names token_budget.
ALTER TABLE api_keys DROP COLUMN period_reserved;
ALTER TABLE api_keys DROP COLUMN period_used;
ALTER TABLE api_keys DROP COLUMN period_started_at;
ALTER TABLE api_keys DROP COLUMN minute_tokens;
ALTER TABLE api_keys DROP COLUMN minute_requests;
ALTER TABLE api_keys DROP COLUMN minute_started_at;
ALTER TABLE api_keys DROP COLUMN allowed_models;
ALTER TABLE api_keys DROP COLUMN budget_period;
ALTER TABLE api_keys DROP COLUMN token_budget;
ALTER TABLE api_keys DROP COLUMN tokens_per_minute;
ALTER TABLE api_keys DROP COLUMN requests_per_minute;
