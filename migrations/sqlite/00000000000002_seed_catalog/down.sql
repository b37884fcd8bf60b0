DELETE FROM flavors;
DELETE FROM datastore_versions;
DELETE FROM datastores;
