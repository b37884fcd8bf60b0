ALTER TABLE instances DROP COLUMN image_id;
ALTER TABLE instances DROP COLUMN server_version;
