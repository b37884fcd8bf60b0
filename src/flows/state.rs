//! Each flow kind's state: what it needs to resume, stored as JSON in its row and read and
//! written only as these types (`Flow::state` / `StepOutcome::next`). Passwords are kept
//! [`Sealed`]. Fields that a step fills in later are optional.

use crate::guest::{DatabaseSpec, RestorePiece};
use crate::secrets::Sealed;
use serde::{Deserialize, Serialize};

/// A flow whose steps need nothing kept (delete, delete_backup).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoState {}

/// A user the create makes, its password sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedUser {
    pub name: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub databases: Vec<String>,
    pub password_sealed: Sealed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateState {
    pub volume_size: Option<i32>,
    #[serde(default)]
    pub databases: Vec<DatabaseSpec>,
    #[serde(default)]
    pub users: Vec<SealedUser>,
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    /// Datastores without users (Redis) get their password at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password_sealed: Option<Sealed>,
    /// The backup chain to restore, full backup first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<RestorePiece>,
    /// The flavor's memory: recorded at create (flows recorded before that find it when the
    /// server is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<i64>,
    /// The datastore manager the server runs, recorded at create (absent in flows recorded
    /// before that: read from the instance's version then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// The source a replica is made from and follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_of: Option<String>,
    /// True when the create named no configuration group (none can be attached before it
    /// ends), so prepare has no values to look up; false in flows recorded before this field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub without_configuration: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestartState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResizeFlavorState {
    pub flavor_id: String,
    pub memory_mb: i64,
    /// The memory taken from the quota when the resize was asked for (negative: given back
    /// when it is done).
    pub ram_delta: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resized_at: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResizeVolumeState {
    pub size: i64,
    /// The volume taken from the quota when the resize was asked for.
    pub volume_delta: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resized_at: Option<i64>,
}

/// An upgrade (to `datastore_version_id`) or an admin's rebuild (with `image_id`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RebuildState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
}

/// Trove's `access` of an instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccessRules {
    pub is_public: bool,
    pub allowed_cidrs: Vec<String>,
}

/// A configure flow's: the set of values it brings to the server (read when it starts, so a
/// resumed flow sends the same), and what the server said waits for a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigureState {
    pub overrides: Option<std::collections::BTreeMap<String, crate::guest::messages::Override>>,
    pub pending_restart: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccessState {
    pub access: AccessRules,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupState {
    pub instance_id: String,
}

/// A switchover (`promote`) or failover (`eject`) of a replication group: the source being
/// replaced, the replica taking its place (a failover chooses it), and the old source's last
/// position the new one must reach.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SwitchState {
    pub source: String,
    pub candidate: Option<String>,
    pub failover: bool,
    /// The other replicas, which follow the candidate once it is the source.
    #[serde(default)]
    pub others: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_position: Option<crate::guest::replication::Position>,
}
