-- The server's full version as it reports it (datastore.version_number), and the image id an
-- admin's rebuild was given (coffer has no image service: it is kept, not used).
ALTER TABLE instances ADD COLUMN server_version TEXT;
ALTER TABLE instances ADD COLUMN image_id TEXT;
