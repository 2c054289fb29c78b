DROP INDEX api_keys_user_id_idx;
DROP INDEX api_keys_public_id_key;
DROP TABLE api_keys;
