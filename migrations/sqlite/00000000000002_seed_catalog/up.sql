-- The catalog coffer starts with. Only `simulated` is active now; postgresql, mariadb and redis
-- become active when their binaries are detected (a later issue makes them real).
INSERT INTO datastores (id, name, manager, default_version_id) VALUES
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1001', 'simulated', 'simulated', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2001'),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1002', 'postgresql', 'postgresql', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2002'),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1003', 'mariadb', 'mariadb', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2003'),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1004', 'redis', 'redis', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2004');
INSERT INTO datastore_versions (id, datastore_id, name, manager, version, active, packages) VALUES
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2001', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1001', '1', 'simulated', '1', TRUE, ''),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2002', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1002', '15', 'postgresql', '15', FALSE, 'postgresql-15'),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2003', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1003', '10.11', 'mariadb', '10.11', FALSE, 'mariadb-server'),
  ('3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2004', '3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a1004', '7.0', 'redis', '7.0', FALSE, 'redis-server');
INSERT INTO flavors (id, name, ram, vcpus, disk, ephemeral) VALUES
  ('1', 'm1.tiny', 512, 1, 1, 0),
  ('2', 'm1.small', 2048, 1, 20, 0),
  ('3', 'm1.medium', 4096, 2, 40, 0),
  ('4', 'm1.large', 8192, 4, 80, 0),
  ('small', 'small', 2048, 1, 20, 0);
