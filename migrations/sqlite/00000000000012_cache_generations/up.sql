-- What the API processes keep in memory (validated tokens, the catalog) is dropped when the
-- generation of its kind moves. Triggers move it on every change to the rows behind it,
-- whoever makes the change (an API call, the command line, SQL by hand). A token's insert
-- does not: a new token is in no cache.
CREATE TABLE cache_generations (
    kind TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO cache_generations (kind, generation) VALUES ('identity', 0), ('catalog', 0);
CREATE TRIGGER datastores_insert_moves_catalog AFTER INSERT ON datastores BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER datastores_update_moves_catalog AFTER UPDATE ON datastores BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER datastores_delete_moves_catalog AFTER DELETE ON datastores BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER datastore_versions_insert_moves_catalog AFTER INSERT ON datastore_versions BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER datastore_versions_update_moves_catalog AFTER UPDATE ON datastore_versions BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER datastore_versions_delete_moves_catalog AFTER DELETE ON datastore_versions BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER flavors_insert_moves_catalog AFTER INSERT ON flavors BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER flavors_update_moves_catalog AFTER UPDATE ON flavors BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER flavors_delete_moves_catalog AFTER DELETE ON flavors BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'catalog';
END;
CREATE TRIGGER users_update_moves_identity AFTER UPDATE ON users BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER users_delete_moves_identity AFTER DELETE ON users BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER projects_update_moves_identity AFTER UPDATE ON projects BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER projects_delete_moves_identity AFTER DELETE ON projects BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER role_assignments_insert_moves_identity AFTER INSERT ON role_assignments BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER role_assignments_update_moves_identity AFTER UPDATE ON role_assignments BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER role_assignments_delete_moves_identity AFTER DELETE ON role_assignments BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER tokens_update_moves_identity AFTER UPDATE ON tokens BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
CREATE TRIGGER tokens_delete_moves_identity AFTER DELETE ON tokens BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE kind = 'identity';
END;
