DROP INDEX conversations_user_id_created_at_idx;
DROP TABLE conversations;
