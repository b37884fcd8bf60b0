-- Configuration groups (Trove's configurations, configuration_parameters,
-- datastore_configuration_parameters and instances.configuration_id).

-- The parameters a group may set, per datastore version; seeded from the servers' own
-- metadata, and managed by admins through /mgmt.
CREATE TABLE datastore_configuration_parameters (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id),
    restart_required BOOLEAN NOT NULL,
    -- integer | string | boolean | float
    data_type TEXT NOT NULL,
    -- decimal text, as Trove's String(40)
    min_size TEXT,
    max_size TEXT,
    -- JSON array of the values a string parameter takes, when it has a fixed set
    enum_values TEXT,
    -- a regular expression a free string value must match
    pattern TEXT,
    -- the server's unit of an integer (8kB, kB, MB, B, ms, s)
    unit TEXT,
    -- builtin (seeded at start, refreshed) | admin (never overwritten by seeding)
    source TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    UNIQUE (datastore_version_id, name)
);

CREATE TABLE configurations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    tenant_id TEXT NOT NULL,
    datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id),
    deleted BOOLEAN NOT NULL,
    deleted_at BIGINT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX configurations_by_tenant ON configurations (tenant_id, deleted, created, id);

-- A group's values, each the JSON text of its value (number, boolean or string).
CREATE TABLE configuration_parameters (
    configuration_id TEXT NOT NULL REFERENCES configurations(id),
    configuration_key TEXT NOT NULL,
    configuration_value TEXT NOT NULL,
    PRIMARY KEY (configuration_id, configuration_key)
);

-- The group an instance uses, and whether its server runs with values older than its
-- configuration (the task then rests on RESTART_REQUIRED instead of NONE).
ALTER TABLE instances ADD COLUMN configuration_id TEXT;
ALTER TABLE instances ADD COLUMN restart_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX instances_by_configuration ON instances (configuration_id);
