DROP INDEX sessions_expires_at_idx;
DROP INDEX sessions_user_id_idx;
DROP TABLE sessions;
