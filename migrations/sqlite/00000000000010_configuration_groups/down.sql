DROP INDEX instances_by_configuration;
ALTER TABLE instances DROP COLUMN restart_pending;
ALTER TABLE instances DROP COLUMN configuration_id;
DROP TABLE configuration_parameters;
DROP TABLE configurations;
DROP TABLE datastore_configuration_parameters;
