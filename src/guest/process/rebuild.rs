//! Who may reach a real server, and re-provisioning it in place: the access rules (host
//! firewall for every datastore, pg_hba as well for PostgreSQL), kept in the volume's settings
//! so every start applies them again; and Trove's upgrade/rebuild — stop, configuration made
//! anew from the settings, start with the installed binaries on the same volume, lock down.
//! Both are idempotent: a flow resumed after a crash simply asks again.

use super::{failed, marker, ProcessDatastore, Server};
use crate::guest::host_error::HostError;
use crate::guest::{firewall, GuestError, ServerSettings};
use std::sync::Arc;

/// `allowed_cidrs` as stored in the settings: everyone when none are given.
pub(super) fn normalized(cidrs: Vec<String>) -> Vec<String> {
    if cidrs.is_empty() {
        vec!["0.0.0.0/0".into()]
    } else {
        cidrs
    }
}

/// Applies the settings' access rules at the host firewall (off the async threads).
pub(super) async fn apply_firewall<S: Server>(server: &S, settings: &ServerSettings) -> Result<(), GuestError> {
    let ((address, port), cidrs) = (server.endpoint(), settings.allowed_cidrs.clone());
    tokio::task::spawn_blocking(move || firewall::apply(address, port, &cidrs))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)
}

/// Removes the server's firewall rule (its instance is being deleted).
pub(super) async fn remove_firewall<S: Server>(server: &S) -> Result<(), HostError> {
    let (address, port) = server.endpoint();
    tokio::task::spawn_blocking(move || firewall::remove(address, port))
        .await
        .map_err(|e| HostError::Task(e.to_string()))?
}

impl<S: Server> ProcessDatastore<S> {
    pub(super) async fn update_access_now(
        server: Arc<S>,
        shared: Arc<parking_lot::Mutex<ServerSettings>>,
        lifecycle: Arc<tokio::sync::Mutex<()>>,
        cidrs: Vec<String>,
    ) -> Result<(), GuestError> {
        let _serial = lifecycle.lock().await;
        if !marker(server.dir()).exists() {
            return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
        }
        let mut settings = shared.lock().clone();
        settings.allowed_cidrs = normalized(cidrs);
        Self::save_settings(server.dir(), &settings).map_err(failed)?;
        *shared.lock() = settings.clone();
        apply_firewall(&*server, &settings).await?;
        server.apply_access(settings).await.map_err(failed)
    }

    pub(super) async fn rebuild_now(
        server: Arc<S>,
        shared: Arc<parking_lot::Mutex<ServerSettings>>,
        lifecycle: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<String, GuestError> {
        let _serial = lifecycle.lock().await;
        if !marker(server.dir()).exists() {
            return Err(GuestError::Unprocessable("the datastore is not prepared yet".into()));
        }
        let settings = shared.lock().clone();
        tracing::info!(volume = %server.dir().display(), "rebuilding the datastore server on its volume");
        server.stop().await.map_err(failed)?;
        // Whatever else still ran in the volume (a tool of an interrupted operation) goes too.
        crate::guest::server::reap(server.dir(), std::time::Duration::from_secs(30))
            .await
            .map_err(failed)?;
        crate::guest::account::take_over_volume(server.dir(), server.user())
            .await
            .map_err(failed)?;
        apply_firewall(&*server, &settings).await?;
        server.start(settings).await.map_err(failed)?;
        server.lock_down().await.map_err(failed)?;
        server.version().await.map_err(failed)
    }
}
