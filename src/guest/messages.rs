//! The arguments of the messages between the control plane and a guest, one type for the
//! sender and the receiver of each (Trove's method and argument names): the task manager and
//! the API build these, the guest's [`super::protocol`] and the conductor decode them. A field
//! is optional only where the message may leave it out.

use super::{DatabaseSpec, UserChange, UserSpec};
use crate::ids::InstanceId;
use serde::{Deserialize, Serialize};

/// Encodes a message's arguments (plain derived types: this cannot fail).
pub fn encode<T: Serialize>(args: &T) -> serde_json::Value {
    serde_json::to_value(args).unwrap_or_default()
}

/// One configuration value as a guest writes it: the group's value (a JSON number, boolean or
/// string, checked against the catalog) and whether the catalog says the server takes it only
/// at a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub value: serde_json::Value,
    pub restart_required: bool,
}

/// Trove's `update_overrides` and `apply_overrides`: the instance's whole set of configuration
/// values from now on (empty: detached). `update_overrides` writes them into the server's
/// configuration; `apply_overrides` (re-writing them if they differ) applies them to the
/// running server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Overrides {
    pub overrides: std::collections::BTreeMap<String, Override>,
}

/// `apply_overrides`' answer: the parameters whose value the running server takes only at its
/// next restart, and those it refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppliedOverrides {
    pub pending_restart: Vec<String>,
    /// The parameters the server refused, each with its reason: it runs without them.
    pub refused: Vec<String>,
}

/// `get_configuration`: the running server's values of `names`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetConfiguration {
    pub names: Vec<String>,
}

/// `create_database`.
#[derive(Serialize, Deserialize)]
pub struct Databases {
    pub databases: Vec<DatabaseSpec>,
}

/// `delete_database`.
#[derive(Serialize, Deserialize)]
pub struct OneDatabase {
    pub database: DatabaseSpec,
}

/// `create_user`, `change_passwords`.
#[derive(Serialize, Deserialize)]
pub struct Users {
    pub users: Vec<UserSpec>,
}

/// `delete_user`.
#[derive(Serialize, Deserialize)]
pub struct OneUser {
    pub user: UserSpec,
}

/// Trove's `update_attributes(username, hostname, user_attrs)`.
#[derive(Serialize, Deserialize)]
pub struct UpdateAttributes {
    pub username: String,
    pub hostname: Option<String>,
    pub user_attrs: UserChange,
}

/// `get_user`, `list_access`.
#[derive(Serialize, Deserialize)]
pub struct UserRef {
    pub username: String,
    pub hostname: Option<String>,
}

/// `grant_access`.
#[derive(Serialize, Deserialize)]
pub struct Grant {
    pub username: String,
    pub hostname: Option<String>,
    pub databases: Vec<String>,
}

/// `revoke_access`.
#[derive(Serialize, Deserialize)]
pub struct Revoke {
    pub username: String,
    pub hostname: Option<String>,
    pub database: String,
}

/// `resize` (a new flavor's memory).
#[derive(Serialize, Deserialize)]
pub struct Resize {
    pub memory_mb: i64,
}

/// `resize_fs`.
#[derive(Serialize, Deserialize)]
pub struct ResizeFs {
    pub size_gb: i64,
    pub limit_mb: i64,
}

/// `retain_logs`: the logs from `keep_from` on are kept (all but the newest when `None`).
#[derive(Serialize, Deserialize)]
pub struct RetainLogs {
    pub keep_from: Option<String>,
}

/// `update_access`.
#[derive(Serialize, Deserialize)]
pub struct UpdateAccess {
    pub allowed_cidrs: Vec<String>,
}

/// `host_guest`: a task manager hands a simulated instance's guest to a pool, with the
/// instance's key sealed under the master key.
#[derive(Serialize, Deserialize)]
pub struct HostGuest {
    pub instance_id: InstanceId,
    pub sealed_key: String,
    pub prepared: bool,
}

/// `guest_wanted`: a pool asks a task manager whether an instance still wants its guest.
#[derive(Serialize, Deserialize)]
pub struct GuestWanted {
    pub instance_id: InstanceId,
}

/// Trove's `heartbeat` to the conductor.
#[derive(Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    pub instance_id: InstanceId,
    /// Trove's guests may leave it out.
    #[serde(default)]
    pub payload: HeartbeatPayload,
    pub sent: Option<f64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HeartbeatPayload {
    pub service_status: Option<String>,
}

/// A guest's report that something went wrong (Trove's `notify_exc_info`), stored as a fault.
#[derive(Debug, Serialize, Deserialize)]
pub struct FaultReport {
    pub instance_id: InstanceId,
    pub message: String,
    pub sent: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_required_key_is_an_error() {
        let wrong = serde_json::json!({"memory": 512});
        assert!(serde_json::from_value::<Resize>(wrong).is_err());
        let right = encode(&Resize { memory_mb: 512 });
        assert_eq!(serde_json::from_value::<Resize>(right).expect("decodes").memory_mb, 512);
    }
}
