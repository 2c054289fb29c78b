DROP INDEX users_email_key;
DROP TABLE users;
