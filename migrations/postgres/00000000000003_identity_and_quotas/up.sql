-- Identity (the Keystone v3 subset coffer serves) and quotas.
CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    -- argon2id, PHC string format
    password_hash TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE role_assignments (
    user_id TEXT NOT NULL REFERENCES users(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id, role)
);

-- Tokens are random; only their SHA-256 is stored.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- Per-project limits that differ from the configured defaults (Trove's quotas table).
CREATE TABLE quotas (
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, resource)
);

-- What each project uses now; changed only by conditional updates, in the transaction that
-- creates or removes what is counted.
CREATE TABLE quota_usages (
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    in_use INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, resource)
);
