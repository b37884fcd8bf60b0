//! The guest side of a real datastore server: one [`ProcessDatastore`] drives any [`Server`]
//! (PostgreSQL, MariaDB, Redis) through the datastore contract, keeping Trove's
//! `.prepare.end` marker and the server's settings in the instance's volume.

pub(crate) mod configure;
mod contract;
mod logs;
mod prepare;
mod rebuild;
mod replication;
mod volume;

use super::{
    BackupJob, BackupOutcome, DatabaseSpec, Datastore, FilesystemStats, GuestError, GuestFuture, PrepareRequest,
    ServerSettings, UserSpec,
};
use crate::guest::driver_error::DriverError;
use crate::guest::messages::{AppliedOverrides, Override};
use crate::status::ServiceStatus;
use crate::storage::BackupStore;
pub use contract::{Accounts, Applied, Backups, Replication, Server};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub struct ProcessDatastore<S: Server> {
    server: Arc<S>,
    settings: Arc<Mutex<ServerSettings>>,
    /// A volume check is running (they are started from the heartbeat timer).
    checking: Arc<std::sync::atomic::AtomicBool>,
    /// Serializes what changes the server process (prepare, start, restart, resize, destroy),
    /// so a destroy never races a prepare that is still starting the server.
    lifecycle: Arc<tokio::sync::Mutex<()>>,
    /// A prepare is running; another one (a resumed create's) returns at once.
    preparing: Arc<std::sync::atomic::AtomicBool>,
    /// coffer's records make this server a replica (see [`Datastore::expect_replica`]).
    recorded_replica: bool,
}

fn marker(dir: &Path) -> PathBuf {
    dir.join(".prepare.end")
}

fn settings_file(dir: &Path) -> PathBuf {
    dir.join("settings.json")
}

fn failed(e: impl std::fmt::Display) -> GuestError {
    GuestError::Failed(e.to_string())
}

impl<S: Server> ProcessDatastore<S> {
    /// Wraps `server`, reading the settings a previous prepare left in the volume.
    pub fn new(server: S) -> ProcessDatastore<S> {
        let settings = std::fs::read_to_string(settings_file(server.dir()))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        ProcessDatastore {
            server: Arc::new(server),
            settings: Arc::new(Mutex::new(settings)),
            checking: Arc::default(),
            lifecycle: Arc::default(),
            preparing: Arc::default(),
            recorded_replica: false,
        }
    }

    /// What an operation on the server takes along.
    #[allow(clippy::type_complexity)]
    fn parts(&self) -> (Arc<S>, Arc<Mutex<ServerSettings>>, Arc<tokio::sync::Mutex<()>>) {
        (
            Arc::clone(&self.server),
            Arc::clone(&self.settings),
            Arc::clone(&self.lifecycle),
        )
    }

    /// Keeps `settings` in the volume, whole or not at all (a new file renamed over the old),
    /// so that a crash never leaves a torn file that would read as defaults.
    pub(super) fn save_settings(dir: &Path, settings: &ServerSettings) -> Result<(), DriverError> {
        use std::io::Write;
        let text = serde_json::to_string_pretty(settings).map_err(|e| DriverError::failed(format!("settings: {e}")))?;
        let (path, partial) = (settings_file(dir), dir.join("settings.json.partial"));
        let mut file = std::fs::File::create(&partial).map_err(DriverError::at(&partial))?;
        file.write_all(text.as_bytes()).map_err(DriverError::at(&partial))?;
        file.sync_all().map_err(DriverError::at(&partial))?;
        std::fs::rename(&partial, &path).map_err(DriverError::at(&path))
    }

    fn with_accounts<T, F>(&self, f: F) -> GuestFuture<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a dyn Accounts) -> BoxFuture<'a, Result<T, DriverError>> + Send + 'static,
    {
        let server = Arc::clone(&self.server);
        async move {
            match server.accounts() {
                Some(accounts) => f(accounts).await.map_err(failed),
                None => Err(GuestError::Unprocessable(
                    "This datastore does not support users or databases.".into(),
                )),
            }
        }
        .boxed()
    }

    /// Runs `one` on each item in turn, through the server's accounts; the first failure ends it.
    fn each_account<I: Send + 'static>(
        &self,
        items: Vec<I>,
        one: for<'a> fn(&'a dyn Accounts, I) -> BoxFuture<'a, Result<(), DriverError>>,
    ) -> GuestFuture<()> {
        self.with_accounts(move |a| {
            async move {
                for item in items {
                    one(a, item).await?;
                }
                Ok(())
            }
            .boxed()
        })
    }
}

impl<S: Server> Datastore for ProcessDatastore<S> {
    fn prepare(&mut self, request: PrepareRequest, store: BackupStore) -> GuestFuture<()> {
        use std::sync::atomic::Ordering;
        let server = Arc::clone(&self.server);
        let shared = Arc::clone(&self.settings);
        let (lifecycle, preparing) = (Arc::clone(&self.lifecycle), Arc::clone(&self.preparing));
        if preparing.swap(true, Ordering::AcqRel) {
            return Box::pin(async { Ok(()) });
        }
        async move {
            let _serial = lifecycle.lock().await;
            let result = Self::prepare_once(server, shared, request, store).await;
            preparing.store(false, Ordering::Release);
            result
        }
        .boxed()
    }

    fn create_backup(
        &mut self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> GuestFuture<BackupOutcome> {
        let server = Arc::clone(&self.server);
        async move {
            if !marker(server.dir()).exists() {
                return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
            }
            match server.backups() {
                Some(backups) => backups.backup(job, store, stored).await.map_err(failed),
                None => Err(GuestError::NotImplemented("create_backup".into())),
            }
        }
        .boxed()
    }

    fn retain_logs(&mut self, keep_from: Option<String>) -> GuestFuture<()> {
        let server = Arc::clone(&self.server);
        async move {
            match server.backups() {
                Some(backups) => backups.retain_logs(keep_from).await.map_err(failed),
                None => Ok(()),
            }
        }
        .boxed()
    }

    fn expect_replica(&mut self) {
        self.recorded_replica = true;
    }

    fn start_if_down(&mut self) -> GuestFuture<()> {
        let orphaned = match self.fence_if_orphaned() {
            Ok(orphaned) => orphaned,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let server = Arc::clone(&self.server);
        let settings = self.settings.lock().clone();
        let lifecycle = Arc::clone(&self.lifecycle);
        async move {
            let _serial = lifecycle.lock().await;
            if !marker(server.dir()).exists() {
                return Ok(());
            }
            crate::guest::account::take_over_volume(server.dir(), server.user())
                .await
                .map_err(failed)?;
            rebuild::apply_firewall(&*server, &settings).await?;
            if orphaned {
                if server.running() {
                    server.stop().await.map_err(failed)?;
                }
                return Ok(());
            } else if settings.replication.as_ref().is_some_and(|m| m.fenced) {
                // A source demoted for a switchover starts only as a replica of the new one.
                tracing::info!(volume = %server.dir().display(), "fenced datastore server left as it is");
            } else if !server.running() {
                tracing::info!(volume = %server.dir().display(), "datastore server is down; starting it again");
                server.start(settings).await.map_err(failed)?;
            }
            server.lock_down().await.map_err(failed)
        }
        .boxed()
    }

    fn replication(&mut self, op: crate::guest::replication::ReplicationOp) -> GuestFuture<serde_json::Value> {
        self.replicate(op)
    }

    fn log_list(&mut self) -> GuestFuture<Vec<super::logs::GuestLog>> {
        let listed = logs::list(&*self.server);
        Box::pin(async move { Ok(listed) })
    }

    fn log_action(&mut self, action: super::logs::LogAction, store: BackupStore) -> GuestFuture<super::logs::GuestLog> {
        logs::act(Arc::clone(&self.server), action, store).boxed()
    }

    fn restart(&mut self) -> GuestFuture<()> {
        let server = Arc::clone(&self.server);
        let settings = self.settings.lock().clone();
        let lifecycle = Arc::clone(&self.lifecycle);
        async move {
            let _serial = lifecycle.lock().await;
            if !marker(server.dir()).exists() {
                return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
            }
            server.restart(settings).await.map_err(failed)
        }
        .boxed()
    }

    fn update_access(&mut self, allowed_cidrs: Vec<String>) -> GuestFuture<()> {
        let (server, shared, lifecycle) = self.parts();
        Self::update_access_now(server, shared, lifecycle, allowed_cidrs).boxed()
    }

    fn rebuild(&mut self) -> GuestFuture<String> {
        let (server, shared, lifecycle) = self.parts();
        Self::rebuild_now(server, shared, lifecycle).boxed()
    }

    fn server_version(&mut self) -> GuestFuture<String> {
        let server = Arc::clone(&self.server);
        async move { server.version().await.map_err(failed) }.boxed()
    }

    fn stop(&mut self) -> GuestFuture<()> {
        let server = Arc::clone(&self.server);
        async move { server.stop().await.map_err(failed) }.boxed()
    }

    fn status(&mut self) -> BoxFuture<'static, ServiceStatus> {
        let server = Arc::clone(&self.server);
        async move {
            if !marker(server.dir()).exists() {
                ServiceStatus::Building
            } else if !server.running() {
                ServiceStatus::Shutdown
            } else if server.healthy().await {
                ServiceStatus::Healthy
            } else {
                ServiceStatus::Running
            }
        }
        .boxed()
    }

    fn filesystem_stats(&mut self) -> GuestFuture<FilesystemStats> {
        self.stats_now()
    }

    fn resize_memory(&mut self, memory_mb: i64) -> GuestFuture<()> {
        let (server, shared) = (Arc::clone(&self.server), Arc::clone(&self.settings));
        let lifecycle = Arc::clone(&self.lifecycle);
        async move {
            let _serial = lifecycle.lock().await;
            let settings = {
                let mut s = shared.lock();
                s.memory_mb = memory_mb;
                s.clone()
            };
            Self::save_settings(server.dir(), &settings).map_err(failed)?;
            server.restart(settings).await.map_err(failed)
        }
        .boxed()
    }

    fn resize_volume(&mut self, size_gb: i64, limit_mb: i64) -> GuestFuture<()> {
        self.resize_volume_now(size_gb, limit_mb)
    }

    fn check_volume(&mut self) -> BoxFuture<'static, Option<String>> {
        self.check_volume_now()
    }

    fn is_prepared(&self) -> bool {
        marker(self.server.dir()).exists()
    }

    fn destroy(&mut self) -> GuestFuture<()> {
        let server = Arc::clone(&self.server);
        let lifecycle = Arc::clone(&self.lifecycle);
        async move {
            let _serial = lifecycle.lock().await;
            if let Err(e) = server.stop().await {
                tracing::warn!(volume = %server.dir().display(), "stopping the server before removal: {e}");
            }
            rebuild::remove_firewall(&*server).await.map_err(failed)?;
            super::server::remove_volume(server.dir()).await.map_err(failed)
        }
        .boxed()
    }

    fn list_databases(&mut self) -> GuestFuture<Vec<DatabaseSpec>> {
        self.with_accounts(|a| a.list_databases())
    }
    fn create_databases(&mut self, databases: Vec<DatabaseSpec>) -> GuestFuture<()> {
        self.each_account(databases, |a, db| a.create_database(db))
    }
    fn delete_database(&mut self, name: String) -> GuestFuture<()> {
        self.with_accounts(move |a| a.delete_database(name))
    }
    fn list_users(&mut self) -> GuestFuture<Vec<UserSpec>> {
        self.with_accounts(|a| a.list_users())
    }
    fn create_users(&mut self, users: Vec<UserSpec>) -> GuestFuture<()> {
        self.each_account(users, |a, user| a.create_user(user))
    }
    fn delete_user(&mut self, name: String) -> GuestFuture<()> {
        self.with_accounts(move |a| a.delete_user(name))
    }
    fn change_passwords(&mut self, users: Vec<UserSpec>) -> GuestFuture<()> {
        self.each_account(users, |a, user| a.set_password(user.name, user.password))
    }
    fn update_user(&mut self, user: String, change: crate::guest::UserChange) -> GuestFuture<()> {
        self.with_accounts(move |a| a.update_user(user, change))
    }
    fn update_overrides(&mut self, overrides: BTreeMap<String, Override>) -> GuestFuture<()> {
        let (server, shared, lifecycle) = self.parts();
        async move {
            let _serial = lifecycle.lock().await;
            configure::write(&*server, &shared, overrides).map(|_| ())
        }
        .boxed()
    }

    fn apply_overrides(&mut self, overrides: BTreeMap<String, Override>) -> GuestFuture<AppliedOverrides> {
        let (server, shared, lifecycle) = self.parts();
        async move {
            let _serial = lifecycle.lock().await;
            configure::apply(&*server, &shared, overrides).await
        }
        .boxed()
    }

    fn configuration(&mut self, names: Vec<String>) -> GuestFuture<BTreeMap<String, String>> {
        let server = Arc::clone(&self.server);
        async move { server.current_values(names).await.map_err(failed) }.boxed()
    }

    fn grant_access(&mut self, user: String, databases: Vec<String>) -> GuestFuture<()> {
        self.with_accounts(move |a| a.grant(user, databases))
    }
    fn revoke_access(&mut self, user: String, database: String) -> GuestFuture<()> {
        self.with_accounts(move |a| a.revoke(user, database))
    }
    fn enable_root(&mut self) -> GuestFuture<String> {
        let password = crate::secrets::random_password(24);
        self.with_accounts(move |a| {
            async move {
                a.enable_root(password.clone()).await?;
                Ok(password)
            }
            .boxed()
        })
    }
    fn disable_root(&mut self) -> GuestFuture<()> {
        self.with_accounts(|a| a.disable_root())
    }
    fn is_root_enabled(&mut self) -> GuestFuture<bool> {
        self.with_accounts(|a| a.root_enabled())
    }
}
