DROP INDEX users_email_key;
DROP TABLE users;
DROP COLLATION IF EXISTS promptyard_nocase;
