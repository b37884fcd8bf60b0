DROP TRIGGER datastores_moves_catalog ON datastores;
DROP TRIGGER datastore_versions_moves_catalog ON datastore_versions;
DROP TRIGGER flavors_moves_catalog ON flavors;
DROP TRIGGER users_moves_identity ON users;
DROP TRIGGER projects_moves_identity ON projects;
DROP TRIGGER role_assignments_moves_identity ON role_assignments;
DROP TRIGGER tokens_moves_identity ON tokens;
DROP FUNCTION coffer_move_generation();
DROP TABLE cache_generations;
