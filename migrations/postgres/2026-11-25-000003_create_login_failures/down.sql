DROP INDEX login_failures_window_started_at_idx;
DROP TABLE login_failures;
