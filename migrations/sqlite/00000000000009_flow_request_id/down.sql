ALTER TABLE flows DROP COLUMN request_id;
