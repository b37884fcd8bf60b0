//! What a real datastore server offers the guest: its lifecycle ([`Server`]) and, where it has
//! them, its users and databases ([`Accounts`]).

use crate::guest::driver_error::DriverError;
use crate::guest::replication::{Position, ReplicationStatus};
use crate::guest::{BackupJob, BackupOutcome, DatabaseSpec, PrepareRequest, ServerSettings, UserSpec};
use crate::storage::BackupStore;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// One datastore server process in an instance's volume.
pub trait Server: Send + Sync + 'static {
    /// Where and as whom the server lives.
    fn spec(&self) -> &crate::guest::InstanceSpec;
    /// The port clients reach it at (the datastore's standard one).
    fn port(&self) -> u16;
    /// The instance's volume.
    fn dir(&self) -> &Path {
        &self.spec().dir
    }
    /// The OS account the server runs as (`None`: coffer's own).
    fn user(&self) -> Option<crate::guest::account::ServiceUser> {
        self.spec().user
    }
    /// The address and port clients reach the server at.
    fn endpoint(&self) -> (std::net::Ipv4Addr, u16) {
        (self.spec().address, self.port())
    }
    /// The datastore kind (what coffer keeps for itself depends on it).
    fn manager(&self) -> crate::manager::Manager;
    /// Writes the server's configuration from `settings` for its next start, leaving the
    /// running server as it is.
    fn write_config(&self, settings: &ServerSettings) -> Result<(), DriverError>;
    /// Applies `settings.overrides` to the running server, whose configuration was just written
    /// from `settings`, and returns `settings.released` to their defaults (see [`Applied`]).
    fn apply_overrides(&self, _settings: ServerSettings) -> impl Future<Output = Result<Applied, DriverError>> + Send {
        async {
            Err(DriverError::failed(
                "configuration groups are not supported by this datastore",
            ))
        }
    }
    /// The running server's values of `names`, as it shows them.
    fn current_values(
        &self,
        _names: Vec<String>,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, DriverError>> + Send {
        async {
            Err(DriverError::failed(
                "configuration groups are not supported by this datastore",
            ))
        }
    }
    /// The server's full version as it reports it (`15.14`, `10.11.14`, `7.0.15`).
    fn version(&self) -> impl Future<Output = Result<String, DriverError>> + Send;
    /// Applies `settings.allowed_cidrs` in the server itself where it has such rules
    /// (PostgreSQL's pg_hba); the host firewall is applied by the caller for every datastore.
    fn apply_access(&self, _settings: ServerSettings) -> impl Future<Output = Result<(), DriverError>> + Send {
        async { Ok(()) }
    }
    /// Whether the server process runs (pid file checked against /proc).
    fn running(&self) -> bool;
    fn prepare(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
    fn start(&self, settings: ServerSettings) -> impl Future<Output = Result<(), DriverError>> + Send;
    fn stop(&self) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Re-renders the configuration from `settings` and restarts.
    fn restart(&self, settings: ServerSettings) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Whether the server answers a trivial query as the admin.
    fn healthy(&self) -> impl Future<Output = bool> + Send;
    /// Applies `settings.read_only` to the running server (and its configuration).
    fn apply_read_only(&self, settings: ServerSettings) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Removes what the datastore's own installer (or an older coffer) left open — accounts
    /// coffer did not make — from the running server; run at every prepare and adoption.
    fn lock_down(&self) -> impl Future<Output = Result<(), DriverError>> + Send {
        async { Ok(()) }
    }
    /// The server's logs (see [`crate::guest::logs`]).
    fn logs(&self) -> Vec<crate::guest::logs::LogDef> {
        Vec::new()
    }
    /// Switches the USER log `name` on or off in the running server.
    fn switch_log(&self, name: String, _on: bool) -> impl Future<Output = Result<(), DriverError>> + Send {
        async move { Err(DriverError::Failed(format!("the log {name} cannot be switched"))) }
    }
    /// Backups and restore; `None` when the datastore has none.
    fn backups(&self) -> Option<&dyn Backups> {
        None
    }
    /// Users and databases; `None` when the datastore has none (Redis).
    fn accounts(&self) -> Option<&dyn Accounts> {
        None
    }
    /// Replication; `None` when the datastore has none.
    fn replication(&self) -> Option<&dyn Replication> {
        None
    }
}

/// A datastore server as a member of a replication group. `settings.replication` says what it
/// is to be (the caller has saved it); each operation brings the server there and is harmless
/// to repeat.
pub trait Replication: Send + Sync {
    /// Makes the server a source replicas can follow: the replication account (with the
    /// group's password) and a slot for each of `slots`.
    fn enable_source(&self, settings: ServerSettings, slots: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>>;
    /// The password every member of the group shares where the datastore keeps it outside
    /// what replicates (Redis' clients' password, MariaDB's admin password): a replica is
    /// prepared with it.
    fn shared_password(&self) -> Result<Option<String>, DriverError> {
        Ok(None)
    }
    /// Forgets a replica's slot (it left the group or is deleted).
    fn drop_slot(&self, slot: String) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Makes the empty volume a copy of `settings`' source and starts it as its replica (the
    /// prepare of a replica; `request` has what the instance keeps of its own, a password).
    fn seed(&self, request: PrepareRequest, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Refuses writes from now on (also after a restart) and lets the replicas take all the
    /// server has; answers the final position they must reach.
    fn demote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<Position, DriverError>>;
    /// Makes a replica a writable server of its own.
    fn promote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Follows `settings`' source from now on; a server that is down is started when `start`.
    fn follow(&self, settings: ServerSettings, start: bool) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Where the server stands.
    fn status(&self, settings: ServerSettings) -> BoxFuture<'_, Result<ReplicationStatus, DriverError>>;
}

/// What applying a configuration to a running server came to.
#[derive(Debug, Default)]
pub struct Applied {
    /// The parameters the server takes only at its next restart.
    pub pending: Vec<String>,
    /// The parameters the server refused, each with its reason (it keeps its old value).
    pub refused: Vec<(String, String)>,
}

/// Users and databases of a datastore that has them.
pub trait Accounts: Send + Sync {
    fn list_databases(&self) -> BoxFuture<'_, Result<Vec<DatabaseSpec>, DriverError>>;
    fn create_database(&self, db: DatabaseSpec) -> BoxFuture<'_, Result<(), DriverError>>;
    fn delete_database(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>>;
    fn list_users(&self) -> BoxFuture<'_, Result<Vec<UserSpec>, DriverError>>;
    fn create_user(&self, user: UserSpec) -> BoxFuture<'_, Result<(), DriverError>>;
    fn delete_user(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>>;
    fn set_password(&self, name: String, password: String) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Renames the user and/or moves it to `change.host`, keeping its grants (no password).
    fn rename_user(&self, name: String, change: crate::guest::UserChange) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Trove's `update_attributes`: a rename or move, then the password (which a PostgreSQL
    /// rename clears when it is MD5), under the user's new name.
    fn update_user(&self, name: String, change: crate::guest::UserChange) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let new_name = change.name.clone().unwrap_or_else(|| name.clone());
            if new_name != name || change.host.is_some() {
                self.rename_user(name, change.clone()).await?;
            }
            match change.password {
                Some(password) => self.set_password(new_name, password).await,
                None => Ok(()),
            }
        })
    }
    fn grant(&self, user: String, databases: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>>;
    fn revoke(&self, user: String, database: String) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Enables the superuser `root` with `password`.
    fn enable_root(&self, password: String) -> BoxFuture<'_, Result<(), DriverError>>;
    fn disable_root(&self) -> BoxFuture<'_, Result<(), DriverError>>;
    fn root_enabled(&self) -> BoxFuture<'_, Result<bool, DriverError>>;
}

/// Backups and restore of a datastore server.
pub trait Backups: Send + Sync {
    /// Streams a consistent dump into `store` (see [`crate::guest::backup_stream`]).
    fn backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> BoxFuture<'_, Result<BackupOutcome, DriverError>>;
    /// Loads `request.restore` (fetched from `store` and verified) into a fresh volume, with
    /// this instance's own address, socket and admin credentials, and starts the server.
    fn restore(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Drops the logs kept for incremental backups that no live backup can need any more: those
    /// before `keep_from` (a backup's end position), or all but the newest with no backup left.
    fn retain_logs(&self, _keep_from: Option<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }
}
