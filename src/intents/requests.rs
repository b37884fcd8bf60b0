//! What the API asks the domain for, once its input passed the schema (parsing stays in
//! `web::validate`).

use crate::guest::{DatabaseSpec, UserSpec};
use serde_json::Value;

/// A create request that passed the schema.
#[derive(Debug, Clone)]
pub struct CreateInstance {
    pub name: String,
    pub flavor_id: String,
    pub volume_size: Option<i32>,
    pub datastore_type: Option<String>,
    pub datastore_version: Option<String>,
    pub databases: Vec<DatabaseSpec>,
    /// Users with their passwords (sealed before anything is stored).
    pub users: Vec<UserSpec>,
    pub access: Option<Value>,
    /// `nics[0]`'s network (`net-id` from troveclient, `network_id` from OSC).
    pub network_id: Option<String>,
    /// `restorePoint.backupRef`: the backup to restore into the new instance.
    pub restore_backup_id: Option<String>,
    /// `configuration`: the configuration group the server starts with.
    pub configuration_id: Option<String>,
    /// `replica_of`: the source a replica is made from (the flavor is then optional: empty
    /// means the source's).
    pub replica_of: Option<String>,
    /// `replica_count` (1..3, only with `replica_of`).
    pub replica_count: Option<i64>,
}
