DROP INDEX instances_slave_of_id;
CREATE INDEX instances_slave_of_id ON instances (slave_of_id);
DROP INDEX instances_admin_listing;
