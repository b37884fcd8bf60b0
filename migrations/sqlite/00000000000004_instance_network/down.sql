ALTER TABLE instances DROP COLUMN network_id;
