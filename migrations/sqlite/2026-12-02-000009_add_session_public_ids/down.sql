DROP INDEX sessions_public_id_idx;
ALTER TABLE sessions DROP COLUMN public_id;
