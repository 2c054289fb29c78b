ALTER TABLE messages DROP COLUMN tokens;
