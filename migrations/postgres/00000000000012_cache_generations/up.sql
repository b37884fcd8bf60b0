-- What the API processes keep in memory (validated tokens, the catalog) is dropped when the
-- generation of its kind moves. Triggers move it on every change to the rows behind it,
-- whoever makes the change (an API call, the command line, SQL by hand). A token's insert
-- does not: a new token is in no cache. On PostgreSQL the triggers fire once per statement,
-- TRUNCATE included.
CREATE TABLE cache_generations (
    kind TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO cache_generations (kind, generation) VALUES ('identity', 0), ('catalog', 0);
CREATE FUNCTION coffer_move_generation() RETURNS trigger AS $$
BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = TG_ARGV[0];
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER datastores_moves_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON datastores
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('catalog');
CREATE TRIGGER datastore_versions_moves_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON datastore_versions
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('catalog');
CREATE TRIGGER flavors_moves_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flavors
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('catalog');
CREATE TRIGGER users_moves_identity AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('identity');
CREATE TRIGGER projects_moves_identity AFTER UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('identity');
CREATE TRIGGER role_assignments_moves_identity AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('identity');
CREATE TRIGGER tokens_moves_identity AFTER UPDATE OR DELETE OR TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_move_generation('identity');
