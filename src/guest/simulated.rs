//! The simulated datastore: databases and users in memory, a configurable prepare time, no
//! process. Thousands of them fit in one coffer for load tests.

mod configure;

use super::{
    backup_stream, BackupJob, BackupOutcome, DatabaseSpec, Datastore, FilesystemStats, GuestError, GuestFuture,
    PrepareRequest, RestorePiece, UserSpec,
};
use crate::guest::driver_error::DriverError;
use crate::manager::Manager;
use crate::status::ServiceStatus;
use crate::storage::BackupStore;
use futures::future::{ready, BoxFuture};
use futures::FutureExt;
use parking_lot::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// The version a simulated server reports.
const SIMULATED_VERSION: &str = "1.0.0";

#[derive(Default)]
struct State {
    prepared: bool,
    preparing: bool,
    running: bool,
    databases: Vec<DatabaseSpec>,
    users: Vec<UserSpec>,
    volume_size_gb: Option<i64>,
    root_enabled: bool,
    config: configure::SimConfig,
}

pub struct SimulatedDatastore {
    prepare_time: Duration,
    state: Arc<Mutex<State>>,
}

impl SimulatedDatastore {
    /// A fresh datastore; `prepared` is true when re-adopting one whose prepare already ran.
    pub fn new(prepare_time: Duration, prepared: bool) -> SimulatedDatastore {
        let state = State {
            prepared,
            running: prepared,
            ..State::default()
        };
        SimulatedDatastore {
            prepare_time,
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn now<T: Send + 'static>(&self, f: impl FnOnce(&mut State) -> Result<T, GuestError>) -> GuestFuture<T> {
        ready(f(&mut self.state.lock())).boxed()
    }
}

impl Datastore for SimulatedDatastore {
    fn prepare(&mut self, request: PrepareRequest, store: BackupStore) -> GuestFuture<()> {
        let state = Arc::clone(&self.state);
        let delay = self.prepare_time;
        async move {
            {
                let mut s = state.lock();
                if s.prepared || s.preparing {
                    return Ok(());
                }
                s.preparing = true;
            }
            tokio::time::sleep(delay).await;
            let restored = match request.restore.last() {
                Some(piece) => match restore(&store, piece).await {
                    Ok(dump) => Some(dump),
                    Err(e) => {
                        state.lock().preparing = false;
                        return Err(e.into());
                    }
                },
                None => None,
            };
            let mut s = state.lock();
            let (mut databases, mut users) = restored.map(|d| (d.databases, d.users)).unwrap_or_default();
            databases.extend(request.databases);
            users.extend(request.users.into_iter().map(|u| UserSpec {
                password: String::new(),
                ..u
            }));
            s.databases = databases;
            s.users = users;
            s.volume_size_gb = request.volume_size_gb;
            if let Err(e) = s.config.write(request.overrides) {
                s.preparing = false;
                return Err(e);
            }
            s.config.start();
            s.prepared = true;
            s.preparing = false;
            s.running = true;
            Ok(())
        }
        .boxed()
    }

    fn create_backup(
        &mut self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> GuestFuture<BackupOutcome> {
        let dump = {
            let s = self.state.lock();
            Dump {
                databases: s.databases.clone(),
                users: s.users.clone(),
            }
        };
        let delay = self.prepare_time;
        async move {
            // A simulated dump takes as long as a simulated prepare.
            tokio::time::sleep(delay).await;
            let bytes = serde_json::to_vec(&dump).map_err(|e| GuestError::Failed(e.to_string()))?;
            let key = job.key(Manager::Simulated.backup_format());
            let done = backup_stream::upload(
                &store,
                &key,
                backup_stream::DumpSource::Bytes(bytes),
                job.compression_level,
                stored,
            )
            .await?;
            Ok(BackupOutcome::new(key, done, serde_json::json!({})))
        }
        .boxed()
    }

    fn restart(&mut self) -> GuestFuture<()> {
        self.now(|s| {
            if !s.prepared {
                return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
            }
            s.running = true;
            s.config.start();
            Ok(())
        })
    }

    fn update_overrides(
        &mut self,
        overrides: std::collections::BTreeMap<String, super::messages::Override>,
    ) -> GuestFuture<()> {
        self.now(|s| s.config.write(overrides))
    }

    fn apply_overrides(
        &mut self,
        overrides: std::collections::BTreeMap<String, super::messages::Override>,
    ) -> GuestFuture<super::messages::AppliedOverrides> {
        self.now(|s| s.config.apply(overrides))
    }

    fn configuration(&mut self, names: Vec<String>) -> GuestFuture<std::collections::BTreeMap<String, String>> {
        self.now(|s| Ok(s.config.shown(names)))
    }

    fn stop(&mut self) -> GuestFuture<()> {
        self.now(|s| {
            s.running = false;
            Ok(())
        })
    }

    fn status(&mut self) -> BoxFuture<'static, ServiceStatus> {
        let s = self.state.lock();
        let status = match (s.prepared, s.running) {
            (false, _) => ServiceStatus::Building,
            (true, true) => ServiceStatus::Healthy,
            (true, false) => ServiceStatus::Shutdown,
        };
        ready(status).boxed()
    }

    fn filesystem_stats(&mut self) -> GuestFuture<FilesystemStats> {
        self.now(|s| {
            let total = s.volume_size_gb.unwrap_or(1) as f64;
            let used = 0.001 * (s.databases.len() + s.users.len()) as f64;
            Ok(FilesystemStats { total, used })
        })
    }

    fn is_prepared(&self) -> bool {
        self.state.lock().prepared
    }

    fn update_access(&mut self, _allowed_cidrs: Vec<String>) -> GuestFuture<()> {
        self.now(|_| Ok(()))
    }

    fn rebuild(&mut self) -> GuestFuture<String> {
        self.now(|s| {
            if !s.prepared {
                return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
            }
            s.running = true;
            Ok(SIMULATED_VERSION.to_string())
        })
    }

    fn server_version(&mut self) -> GuestFuture<String> {
        self.now(|_| Ok(SIMULATED_VERSION.to_string()))
    }

    fn resize_memory(&mut self, _memory_mb: i64) -> GuestFuture<()> {
        self.now(|s| {
            s.running = true;
            s.config.start();
            Ok(())
        })
    }

    fn resize_volume(&mut self, size_gb: i64, _limit_mb: i64) -> GuestFuture<()> {
        self.now(|s| {
            s.volume_size_gb = Some(size_gb);
            Ok(())
        })
    }

    fn list_databases(&mut self) -> GuestFuture<Vec<DatabaseSpec>> {
        self.now(|s| Ok(s.databases.clone()))
    }

    fn create_databases(&mut self, databases: Vec<DatabaseSpec>) -> GuestFuture<()> {
        self.now(|s| {
            for db in databases {
                if !s.databases.iter().any(|d| d.name == db.name) {
                    s.databases.push(db);
                }
            }
            Ok(())
        })
    }

    fn delete_database(&mut self, name: String) -> GuestFuture<()> {
        self.now(|s| {
            s.databases.retain(|d| d.name != name);
            for user in &mut s.users {
                user.databases.retain(|d| *d != name);
            }
            Ok(())
        })
    }

    fn update_user(&mut self, user: String, change: crate::guest::UserChange) -> GuestFuture<()> {
        self.now(move |s| {
            if let Some(found) = s.users.iter_mut().find(|u| u.name == user) {
                if let Some(name) = change.name {
                    found.name = name;
                }
                if change.host.is_some() {
                    found.host = change.host;
                }
            }
            Ok(())
        })
    }

    fn list_users(&mut self) -> GuestFuture<Vec<UserSpec>> {
        self.now(|s| Ok(s.users.clone()))
    }

    fn create_users(&mut self, users: Vec<UserSpec>) -> GuestFuture<()> {
        self.now(|s| {
            for user in users {
                s.users.retain(|u| u.name != user.name);
                s.users.push(UserSpec {
                    password: String::new(),
                    ..user
                });
            }
            Ok(())
        })
    }

    fn delete_user(&mut self, name: String) -> GuestFuture<()> {
        self.now(|s| {
            s.users.retain(|u| u.name != name);
            Ok(())
        })
    }

    fn change_passwords(&mut self, users: Vec<UserSpec>) -> GuestFuture<()> {
        self.now(
            |s| match users.iter().find(|u| !s.users.iter().any(|known| known.name == u.name)) {
                Some(missing) => Err(GuestError::Failed(format!("user {} does not exist", missing.name))),
                None => Ok(()),
            },
        )
    }

    fn grant_access(&mut self, user: String, databases: Vec<String>) -> GuestFuture<()> {
        self.now(|s| {
            let known: Vec<String> = s.databases.iter().map(|d| d.name.clone()).collect();
            let u = s.users.iter_mut().find(|u| u.name == user);
            let u = u.ok_or_else(|| GuestError::Failed(format!("user {user} does not exist")))?;
            for db in databases.into_iter().filter(|d| known.contains(d)) {
                if !u.databases.contains(&db) {
                    u.databases.push(db);
                }
            }
            Ok(())
        })
    }

    fn revoke_access(&mut self, user: String, database: String) -> GuestFuture<()> {
        self.now(|s| {
            if let Some(u) = s.users.iter_mut().find(|u| u.name == user) {
                u.databases.retain(|d| *d != database);
            }
            Ok(())
        })
    }

    fn enable_root(&mut self) -> GuestFuture<String> {
        self.now(|s| {
            s.root_enabled = true;
            Ok(crate::secrets::random_password(24))
        })
    }

    fn disable_root(&mut self) -> GuestFuture<()> {
        self.now(|s| {
            s.root_enabled = false;
            Ok(())
        })
    }

    fn is_root_enabled(&mut self) -> GuestFuture<bool> {
        self.now(|s| Ok(s.root_enabled))
    }
}

/// What a simulated backup holds: the whole (small) state.
#[derive(serde::Serialize, serde::Deserialize)]
struct Dump {
    databases: Vec<DatabaseSpec>,
    users: Vec<UserSpec>,
}

/// Fetches and verifies a simulated backup (the last of the chain holds the whole state).
async fn restore(store: &BackupStore, piece: &RestorePiece) -> Result<Dump, DriverError> {
    let dir = std::env::temp_dir().join(format!("coffer-restore-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(DriverError::at(&dir))?;
    let result = async {
        let (packed, plain) = (dir.join("dump.zst"), dir.join("dump.json"));
        backup_stream::fetch_verified(store, &piece.object_key, &piece.checksum, &packed).await?;
        backup_stream::unpack(
            &packed,
            backup_stream::Unpack::File {
                path: plain.clone(),
                user: None,
            },
        )
        .await?;
        let text = std::fs::read(&plain).map_err(DriverError::at(&plain))?;
        serde_json::from_slice(&text)
            .map_err(|e| DriverError::Failed(format!("the backup is not a simulated dump: {e}")))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
