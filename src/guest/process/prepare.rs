//! Prepare of a real datastore server: a fresh one (initdb and the like) or one restored from
//! a backup chain, then the databases and users the create asks for; Trove's `.prepare.end`
//! marker is written last. A prepare that finds no marker starts over from an empty volume:
//! whatever an interrupted attempt left — a half-made data directory, a still running initdb,
//! mariadb-install-db or server — is stopped and removed first, so a crash at any moment of a
//! create only costs the work done so far.

use super::{failed, marker, ProcessDatastore, Server};
use crate::guest::{GuestError, PrepareRequest, ServerSettings};
use crate::storage::BackupStore;
use parking_lot::Mutex;
use std::sync::Arc;

impl<S: Server> ProcessDatastore<S> {
    pub(super) async fn prepare_once(
        server: Arc<S>,
        shared: Arc<Mutex<ServerSettings>>,
        request: PrepareRequest,
        store: BackupStore,
    ) -> Result<(), GuestError> {
        if marker(server.dir()).exists() {
            let settings = shared.lock().clone();
            crate::guest::account::take_over_volume(server.dir(), server.user())
                .await
                .map_err(failed)?;
            return server.start(settings).await.map_err(failed);
        }
        crate::guest::server::clear_volume(server.dir()).await.map_err(failed)?;
        let mut settings = ServerSettings {
            memory_mb: request.memory_mb,
            volume_size_gb: request.volume_size_gb,
            volume_limit_mb: request.volume_limit_mb,
            allowed_cidrs: super::rebuild::normalized(request.allowed_cidrs.clone()),
            overrides: request.overrides.clone(),
            ..ServerSettings::default()
        };
        if let Some(source) = request.replica_of.clone() {
            // A replica: a copy of its source, then following it (no databases or users of its
            // own: they come from the source).
            let replication = server
                .replication()
                .ok_or_else(|| GuestError::NotImplemented("replication".into()))?;
            settings.replication = Some(super::replication::member_of(&source, &server.spec().secrets));
            replication.seed(request, settings.clone()).await.map_err(failed)?;
        } else if request.restore.is_empty() {
            server.prepare(request, settings.clone()).await.map_err(failed)?;
        } else {
            let backups = server
                .backups()
                .ok_or_else(|| GuestError::NotImplemented("restore".into()))?;
            let (databases, users) = (request.databases.clone(), request.users.clone());
            backups
                .restore(request, settings.clone(), store)
                .await
                .map_err(failed)?;
            // Databases and users the create asks for besides what the backup holds.
            if let Some(accounts) = server.accounts() {
                for db in databases {
                    accounts.create_database(db).await.map_err(failed)?;
                }
                for user in users {
                    accounts.create_user(user).await.map_err(failed)?;
                }
            }
        }
        server.lock_down().await.map_err(failed)?;
        super::rebuild::apply_firewall(&*server, &settings).await?;
        Self::save_settings(server.dir(), &settings).map_err(failed)?;
        *shared.lock() = settings;
        std::fs::write(marker(server.dir()), b"").map_err(|e| failed(format!("prepare marker: {e}")))
    }
}
