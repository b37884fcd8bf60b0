ALTER TABLE services DROP COLUMN actors;
