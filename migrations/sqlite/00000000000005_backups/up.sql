-- Backups (Trove's backups table) and coffer's per-instance backup schedules.
CREATE TABLE backups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    tenant_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id),
    parent_id TEXT,
    -- full | incremental
    backup_type TEXT NOT NULL,
    -- NEW, BUILDING, COMPLETED, FAILED, DELETE_FAILED (Trove's BackupState)
    state TEXT NOT NULL,
    -- the object's key in the store, and its URL (locationRef)
    object_key TEXT,
    location TEXT,
    -- bytes stored (compressed), and the SHA-256 of the stored object
    size_bytes BIGINT,
    checksum TEXT,
    -- JSON the datastore needs to chain an incremental on this backup (end LSN, to_lsn)
    meta TEXT,
    -- which attempt runs now (the guest's updates for an older attempt are ignored)
    attempt INTEGER NOT NULL,
    -- the current attempt failed (the guest said so); the flow decides whether another follows
    attempt_failed BOOLEAN NOT NULL,
    fail_reason TEXT,
    -- the guest's clock (`sent`) of the last update applied: older ones are stale
    last_sent DOUBLE NOT NULL,
    -- when the guest last reported progress (coffer's clock, ms)
    progress_at BIGINT NOT NULL,
    schedule_run BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX backups_instance ON backups (instance_id, deleted);
CREATE INDEX backups_tenant ON backups (tenant_id, deleted, updated);
-- At most one running backup per instance, whatever the isolation level.
CREATE UNIQUE INDEX backups_one_running ON backups (instance_id)
    WHERE deleted = false AND state IN ('NEW', 'BUILDING');

CREATE TABLE backup_schedules (
    instance_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    -- seconds between full backups, and the UTC time of day ("HH:MM") they align to, if any
    full_every_s BIGINT NOT NULL,
    full_at TEXT,
    -- seconds between incremental backups on the newest full one (NULL: none)
    incremental_every_s BIGINT,
    retention_count INTEGER,
    retention_days INTEGER,
    next_full_at BIGINT NOT NULL,
    next_incremental_at BIGINT,
    last_error TEXT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
