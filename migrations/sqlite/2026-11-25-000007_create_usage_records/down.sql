DROP INDEX usage_records_user_id_model_idx;
DROP TABLE usage_records;
