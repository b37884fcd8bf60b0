-- coffer's tables. Timestamps are milliseconds since the Unix epoch (BIGINT), the same on
-- SQLite and PostgreSQL; Trove's column names are kept where Trove has the column.
CREATE TABLE datastores (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    manager TEXT NOT NULL,
    default_version_id TEXT
);

CREATE TABLE datastore_versions (
    id TEXT PRIMARY KEY NOT NULL,
    datastore_id TEXT NOT NULL REFERENCES datastores(id),
    name TEXT NOT NULL,
    manager TEXT NOT NULL,
    version TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    packages TEXT NOT NULL DEFAULT '',
    image_id TEXT,
    UNIQUE (datastore_id, name, version)
);

CREATE TABLE flavors (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    ram INTEGER NOT NULL,
    vcpus INTEGER NOT NULL,
    disk INTEGER NOT NULL,
    ephemeral INTEGER NOT NULL
);

CREATE TABLE instances (
    id TEXT PRIMARY KEY NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    name TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    flavor_id TEXT NOT NULL REFERENCES flavors(id),
    volume_size INTEGER,
    datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id),
    task_id INTEGER NOT NULL,
    task_description TEXT NOT NULL,
    task_start_time BIGINT,
    -- the compute driver's server status, in the place of Nova's (BUILD, ACTIVE, SHUTDOWN, ERROR)
    server_status TEXT,
    compute_instance_id TEXT,
    address TEXT,
    access TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at BIGINT
);
CREATE INDEX instances_tenant_listing ON instances (tenant_id, deleted, created, id);

CREATE TABLE service_statuses (
    id TEXT PRIMARY KEY NOT NULL,
    instance_id TEXT NOT NULL UNIQUE REFERENCES instances(id),
    status_id INTEGER NOT NULL,
    status_description TEXT NOT NULL,
    -- the time of the last heartbeat (Trove's liveness timestamp)
    updated_at BIGINT NOT NULL
);

CREATE TABLE instance_faults (
    id TEXT PRIMARY KEY NOT NULL,
    instance_id TEXT NOT NULL REFERENCES instances(id),
    message TEXT NOT NULL,
    details TEXT NOT NULL,
    created BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX instance_faults_instance ON instance_faults (instance_id, deleted, created);

CREATE TABLE conductor_lastseen (
    instance_id TEXT NOT NULL,
    method_name TEXT NOT NULL,
    sent REAL NOT NULL,
    PRIMARY KEY (instance_id, method_name)
);

-- One row per long operation: a persisted state machine that any task manager can resume.
CREATE TABLE flows (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    state TEXT NOT NULL,
    -- running | done | failed | cancelled
    status TEXT NOT NULL,
    owner TEXT,
    lease_until BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX flows_running ON flows (status, owner, lease_until);
CREATE INDEX flows_target ON flows (target_id, status, created);
