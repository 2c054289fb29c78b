DROP INDEX messages_conversation_id_created_at_idx;
DROP TABLE messages;
