//! The guest agent's datastore contract (Trove's guest manager), one driver per datastore.
//!
//! A [`GuestSession`](crate::actors::guest_session::GuestSession) owns one driver and turns bus
//! messages into calls on it. Operations a driver lacks answer `NotImplemented` (the API's 501).

pub mod simulated;

use crate::status::ServiceStatus;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

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

/// What `prepare` is given (Trove's prepare arguments that this datastore uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrepareRequest {
    #[serde(default)]
    pub memory_mb: i64,
    #[serde(default)]
    pub volume_size_gb: Option<i64>,
    #[serde(default)]
    pub databases: Vec<serde_json::Value>,
    #[serde(default)]
    pub users: Vec<serde_json::Value>,
}

/// Trove's `get_filesystem_stats` answer (sizes in GB, as Trove reports them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilesystemStats {
    pub total: f64,
    pub used: f64,
}

/// One datastore, as the guest session drives it.
pub trait Datastore: Send {
    /// Initializes and starts the datastore; calling it again once done is harmless.
    fn prepare(&mut self, request: PrepareRequest) -> BoxFuture<'static, Result<(), GuestError>>;
    fn restart(&mut self) -> BoxFuture<'static, Result<(), GuestError>>;
    fn stop(&mut self) -> BoxFuture<'static, Result<(), GuestError>>;
    /// The status the next heartbeat reports.
    fn status(&mut self) -> BoxFuture<'static, ServiceStatus>;
    fn filesystem_stats(&mut self) -> BoxFuture<'static, Result<FilesystemStats, GuestError>>;
    /// Whether prepare has completed (Trove's `.prepare.end` marker).
    fn is_prepared(&self) -> bool;
}
