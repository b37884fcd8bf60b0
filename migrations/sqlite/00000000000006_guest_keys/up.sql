-- Each instance's guest key (32 random bytes, sealed under the master key): made when its server
-- is provisioned, handed to its guest, and used to sign and check guest <-> control-plane messages.
CREATE TABLE guest_keys (
    instance_id TEXT PRIMARY KEY NOT NULL,
    sealed_key TEXT NOT NULL,
    created BIGINT NOT NULL
);
