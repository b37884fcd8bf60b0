-- Every coffer process (api, conductor, task manager, guest pool) registers here at start and
-- refreshes last_seen while it lives, as Nova's and Trove's service list; a row not refreshed
-- within [cluster] down_after_s is shown down. Pools report through a conductor.
CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    node_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    started BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    telemetry_url TEXT,
    capacity BIGINT,
    hosted BIGINT
);
CREATE INDEX services_by_node ON services (node_id, role);

-- The supervision events of every process, in the order they were stored.
CREATE TABLE supervision_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at BIGINT NOT NULL,
    service_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    event TEXT NOT NULL,
    reason TEXT NOT NULL
);

-- Cluster-wide jobs one process does at a time (the orphaned-guest watch), held by a lease.
CREATE TABLE cluster_leases (
    name TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

-- Facts of the deployment every process checks at start (the master key's fingerprint).
CREATE TABLE deployment_facts (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
