DROP TABLE flows;
DROP TABLE conductor_lastseen;
DROP TABLE instance_faults;
DROP TABLE service_statuses;
DROP TABLE instances;
DROP TABLE flavors;
DROP TABLE datastore_versions;
DROP TABLE datastores;
