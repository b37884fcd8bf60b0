DROP INDEX instances_slave_of_id;
ALTER TABLE instances DROP COLUMN replication_secret;
ALTER TABLE instances DROP COLUMN slave_of_id;
