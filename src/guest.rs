//! The guest agent's datastore contract (Trove's guest manager), one driver per datastore:
//! [`simulated`] (in memory), [`postgres`], [`mariadb`] and [`redis`] (real servers run by
//! [`server`] helpers inside the instance's volume).
//!
//! A [`GuestSession`](crate::actors::guest_session::GuestSession) owns one driver and turns bus
//! messages into calls on it. Operations a driver lacks answer `NotImplemented` (the API's
//! 501); users, databases and root on a datastore without them answer `Unprocessable` (422).

pub mod account;
pub mod backup_stream;
pub mod charsets;
pub mod driver_error;
pub mod firewall;
pub mod host_error;
pub mod logs;
pub mod mariadb;
pub mod messages;
pub mod postgres;
pub mod process;
pub mod protocol;
pub mod redis;
pub mod replication;
pub use replication::{GroupMember, SourceAddress};
pub mod rules;
pub mod server;
pub mod simulated;
pub mod sql;

use crate::ids::{BackupId, ProjectId};
use crate::status::ServiceStatus;
use crate::storage::BackupStore;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Why a guest operation failed; carried back to the caller of a bus `call`.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum GuestError {
    #[error("operation {0} is not implemented by this datastore")]
    NotImplemented(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Failed(String),
}

/// A database to create (Trove's database body).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DatabaseSpec {
    pub name: String,
    pub character_set: Option<String>,
    pub collate: Option<String>,
}

/// A user to create, with the names of the databases it may use.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UserSpec {
    pub name: String,
    pub password: String,
    pub host: Option<String>,
    pub databases: Vec<String>,
}

/// What `update_attributes` changes of a user (each field optional).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct UserChange {
    pub name: Option<String>,
    pub host: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for UserSpec {
    // Never print a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("databases", &self.databases)
            .finish()
    }
}

/// What `prepare` is given (the Trove prepare arguments this datastore uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrepareRequest {
    pub memory_mb: i64,
    pub volume_size_gb: Option<i64>,
    pub databases: Vec<DatabaseSpec>,
    pub users: Vec<UserSpec>,
    pub allowed_cidrs: Vec<String>,
    /// The password clients use where the datastore has no users (Redis).
    pub root_password: Option<String>,
    /// The volume's capacity in MiB.
    pub volume_limit_mb: Option<i64>,
    /// The backup chain to restore (the full backup first); empty for a fresh datastore.
    pub restore: Vec<RestorePiece>,
    /// The configuration group's values the server starts with (Trove's `overrides`).
    pub overrides: BTreeMap<String, messages::Override>,
    /// The source a replica is made from and then follows (Trove's `slave_of_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_of: Option<replication::ReplicaOf>,
}

/// One attempt of a backup, as the task manager asks for it (`create_backup`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupJob {
    pub backup_id: BackupId,
    pub tenant_id: ProjectId,
    pub attempt: i32,
    /// The parent's meta (its end LSN or to_lsn) when this is an incremental backup.
    pub parent_meta: Option<serde_json::Value>,
    /// zstd level of the stored stream (`[backup] compression_level`).
    pub compression_level: i32,
}

impl BackupJob {
    /// The object key of this attempt; `ext` names the dump's format.
    pub fn key(&self, ext: &str) -> String {
        crate::storage::BackupStore::key(&self.tenant_id, &self.backup_id, self.attempt, ext)
    }
}

/// What a completed backup attempt stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupOutcome {
    pub object_key: String,
    pub size: u64,
    pub checksum: String,
    /// What an incremental backup chained on this one needs (end LSN, to_lsn).
    pub meta: serde_json::Value,
}

impl BackupOutcome {
    /// The outcome of a stored dump; `meta` gains the dump's uncompressed size (`raw_bytes`).
    pub fn new(object_key: String, stored: backup_stream::Stored, mut meta: serde_json::Value) -> BackupOutcome {
        if let Some(m) = meta.as_object_mut() {
            m.insert("raw_bytes".into(), serde_json::json!(stored.raw_size));
        }
        BackupOutcome {
            object_key,
            size: stored.size,
            checksum: stored.checksum,
            meta,
        }
    }
}

/// One backup of the chain a restore loads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestorePiece {
    pub backup_id: String,
    pub object_key: String,
    pub checksum: String,
    pub backup_type: String,
    pub meta: serde_json::Value,
}

/// Where an instance's server lives: its volume and its address; and the key its admin
/// credentials are sealed under in that volume.
#[derive(Clone)]
pub struct InstanceSpec {
    pub dir: PathBuf,
    pub address: Ipv4Addr,
    pub secrets: std::sync::Arc<crate::secrets::MasterKey>,
    /// The instance's own OS account when coffer is root; `None`: coffer's own user.
    pub user: Option<account::ServiceUser>,
}

/// What a server's configuration is rendered from, kept in the volume (`settings.json`) so
/// that a re-adopted server keeps its flavor, limits and overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerSettings {
    pub memory_mb: i64,
    pub volume_size_gb: Option<i64>,
    /// The volume's capacity in MiB (size × the volume unit); past it the server turns read-only.
    #[serde(default)]
    pub volume_limit_mb: Option<i64>,
    /// Set when the volume is full: the server refuses writes until it grows.
    pub read_only: bool,
    pub allowed_cidrs: Vec<String>,
    /// The configuration group's values, rendered between the datastore's tunable defaults and
    /// the settings coffer keeps for itself (which always win).
    pub overrides: BTreeMap<String, messages::Override>,
    /// The parameters a group let go of since the running server last took its values: they
    /// return to their defaults when the server next applies its set (or starts).
    #[serde(default)]
    pub released: std::collections::BTreeSet<String>,
    /// Its part in a replication group, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<GroupMember>,
}

impl ServerSettings {
    /// Whether the server is a replica (it follows a source).
    pub fn follows(&self) -> Option<&SourceAddress> {
        self.replication.as_ref().and_then(|m| m.follows.as_ref())
    }

    /// Whether writes are refused: a full volume, or a fenced former source.
    pub fn refuses_writes(&self) -> bool {
        self.read_only || self.replication.as_ref().is_some_and(|m| m.fenced)
    }

    /// The group's replication password, opened with `key`.
    pub fn replication_password(&self, key: &crate::secrets::MasterKey) -> Option<String> {
        let member = self.replication.as_ref()?;
        key.open(&member.password_sealed).ok()
    }
}

/// Trove's `get_filesystem_stats` answer (sizes in GB, as Trove reports them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilesystemStats {
    pub total: f64,
    pub used: f64,
}

type GuestFuture<T> = BoxFuture<'static, Result<T, GuestError>>;

fn not_implemented<T: Send + 'static>(op: &str) -> GuestFuture<T> {
    let op = op.to_string();
    Box::pin(async move { Err(GuestError::NotImplemented(op)) })
}

/// One datastore, as the guest session drives it. Every operation returns a `'static` future
/// so the session can keep handling messages while it runs.
pub trait Datastore: Send {
    /// Initializes and starts the datastore — from the backups in `request.restore` when there
    /// are any, fetched from `store`; calling it again once done is harmless.
    fn prepare(&mut self, request: PrepareRequest, store: BackupStore) -> GuestFuture<()>;
    /// Streams a consistent dump of the datastore into `store`; `stored` counts the bytes
    /// stored so far.
    fn create_backup(
        &mut self,
        _job: BackupJob,
        _store: BackupStore,
        _stored: Arc<AtomicU64>,
    ) -> GuestFuture<BackupOutcome> {
        not_implemented("create_backup")
    }
    /// Tells an adopted datastore that coffer's records make it a replica, with no change of its
    /// group under way: if its volume does not say whom it follows (a failed source ejected
    /// while its guest was gone), its server must not run as a second source.
    fn expect_replica(&mut self) {}
    /// Starts a prepared datastore whose server is not running (after a host reboot), and locks
    /// an adopted server down (see [`process::Server::lock_down`]).
    fn start_if_down(&mut self) -> GuestFuture<()> {
        Box::pin(async { Ok(()) })
    }
    fn restart(&mut self) -> GuestFuture<()>;
    fn stop(&mut self) -> GuestFuture<()>;
    /// Lets only `allowed_cidrs` reach the server (everyone when empty); kept for restarts.
    fn update_access(&mut self, _allowed_cidrs: Vec<String>) -> GuestFuture<()> {
        not_implemented("update_access")
    }
    /// Re-provisions the server from the datastore's installed binaries on the same volume
    /// (Trove's upgrade and rebuild): stopped, its configuration made anew, started, locked
    /// down. Answers the server's full version.
    fn rebuild(&mut self) -> GuestFuture<String> {
        not_implemented("rebuild")
    }
    /// The server's full version as it reports it.
    fn server_version(&mut self) -> GuestFuture<String> {
        not_implemented("server_version")
    }
    /// The status the next heartbeat reports.
    fn status(&mut self) -> BoxFuture<'static, ServiceStatus>;
    fn filesystem_stats(&mut self) -> GuestFuture<FilesystemStats>;
    /// Whether prepare has completed (Trove's `.prepare.end` marker).
    fn is_prepared(&self) -> bool;
    /// Applies a new flavor's memory (the server restarts with re-rendered settings).
    fn resize_memory(&mut self, _memory_mb: i64) -> GuestFuture<()> {
        not_implemented("resize")
    }
    /// Grows the volume to `size_gb` (`limit_mb` MiB); lifts read-only if the data fits again.
    fn resize_volume(&mut self, _size_gb: i64, _limit_mb: i64) -> GuestFuture<()> {
        not_implemented("resize_fs")
    }
    /// Enforces the volume size; returns a fault message when it has just turned read-only.
    fn check_volume(&mut self) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
    /// Keeps the logs incremental backups need from `keep_from` on (see
    /// [`process::Backups::retain_logs`]); a datastore without such logs does nothing.
    fn retain_logs(&mut self, _keep_from: Option<String>) -> GuestFuture<()> {
        Box::pin(async { Ok(()) })
    }
    /// Stops the server for good and removes the volume (the server is being deleted).
    fn destroy(&mut self) -> GuestFuture<()> {
        self.stop()
    }

    fn list_databases(&mut self) -> GuestFuture<Vec<DatabaseSpec>> {
        not_implemented("list_databases")
    }
    fn create_databases(&mut self, _databases: Vec<DatabaseSpec>) -> GuestFuture<()> {
        not_implemented("create_database")
    }
    fn delete_database(&mut self, _name: String) -> GuestFuture<()> {
        not_implemented("delete_database")
    }
    fn list_users(&mut self) -> GuestFuture<Vec<UserSpec>> {
        not_implemented("list_users")
    }
    fn create_users(&mut self, _users: Vec<UserSpec>) -> GuestFuture<()> {
        not_implemented("create_user")
    }
    fn delete_user(&mut self, _name: String) -> GuestFuture<()> {
        not_implemented("delete_user")
    }
    /// Sets the passwords of existing users.
    fn change_passwords(&mut self, _users: Vec<UserSpec>) -> GuestFuture<()> {
        not_implemented("change_passwords")
    }
    /// The datastore's logs (Trove's `guest_log_list`).
    fn log_list(&mut self) -> GuestFuture<Vec<logs::GuestLog>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Switches a USER log on or off, publishes a log to `store`, or discards what was published
    /// (Trove's `guest_log_action`).
    fn log_action(
        &mut self,
        _action: logs::LogAction,
        _store: crate::storage::BackupStore,
    ) -> GuestFuture<logs::GuestLog> {
        not_implemented("guest_log_action")
    }
    /// Trove's `update_attributes`: renames `user` and/or moves it to another host and/or sets
    /// its password, keeping its grants.
    fn update_user(&mut self, _user: String, _change: UserChange) -> GuestFuture<()> {
        not_implemented("update_attributes")
    }
    fn grant_access(&mut self, _user: String, _databases: Vec<String>) -> GuestFuture<()> {
        not_implemented("grant_access")
    }
    fn revoke_access(&mut self, _user: String, _database: String) -> GuestFuture<()> {
        not_implemented("revoke_access")
    }
    /// Enables the datastore's superuser `root` with a new random password, which it returns.
    fn enable_root(&mut self) -> GuestFuture<String> {
        not_implemented("enable_root")
    }
    fn disable_root(&mut self) -> GuestFuture<()> {
        not_implemented("disable_root")
    }
    fn is_root_enabled(&mut self) -> GuestFuture<bool> {
        not_implemented("is_root_enabled")
    }
    /// Trove's `update_overrides`: writes `overrides` (the whole set; empty: none) into the
    /// server's configuration, for its next start.
    fn update_overrides(&mut self, _overrides: BTreeMap<String, messages::Override>) -> GuestFuture<()> {
        not_implemented("update_overrides")
    }
    /// Trove's `apply_overrides`: applies the set to the running server (writing it first if it
    /// differs from the written one); answers what waits for a restart.
    fn apply_overrides(
        &mut self,
        _overrides: BTreeMap<String, messages::Override>,
    ) -> GuestFuture<messages::AppliedOverrides> {
        not_implemented("apply_overrides")
    }
    /// The running server's values of `names` (as it shows them).
    fn configuration(&mut self, _names: Vec<String>) -> GuestFuture<BTreeMap<String, String>> {
        not_implemented("get_configuration")
    }
    /// A replication operation (see [`replication::ReplicationOp`]); its answer as JSON.
    fn replication(&mut self, _op: replication::ReplicationOp) -> GuestFuture<serde_json::Value> {
        not_implemented("replication")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest's arguments have no silent defaults: a key the sender misspelt is an error.
    #[test]
    fn a_misspelt_argument_is_an_error() {
        let mut prepare = serde_json::to_value(PrepareRequest::default()).unwrap();
        assert!(serde_json::from_value::<PrepareRequest>(prepare.clone()).is_ok());
        let memory = prepare["memory_mb"].take();
        prepare.as_object_mut().unwrap().remove("memory_mb");
        prepare["memory_mbb"] = memory;
        assert!(serde_json::from_value::<PrepareRequest>(prepare).is_err());
        let user = serde_json::json!({"name": "app", "pasword": "x", "host": null, "databases": []});
        assert!(serde_json::from_value::<UserSpec>(user).is_err());
    }
}
