-- Replication (Trove's slave_of_id): a replica names the instance it streams from. The group's
-- replication password, sealed under the master key, is kept on each member so whichever
-- becomes the source can hand it to the others.
ALTER TABLE instances ADD COLUMN slave_of_id TEXT;
ALTER TABLE instances ADD COLUMN replication_secret TEXT;
CREATE INDEX instances_slave_of_id ON instances (slave_of_id);
