//! What can go wrong in a flow step. Every one of these is transient from the flow's point of
//! view: the flow actor records it and its supervisor retries with back-off until the flow's
//! deadline (a step that knows it cannot succeed answers `StepOutcome::Fail` instead).

use crate::bus::BusError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// A message to a guest or the task manager could not be sent or was not answered.
    #[error("{method}: {source}")]
    Bus { method: String, source: BusError },
    /// The compute driver could not reach what it needs to create a server (retried).
    #[error("creating the server: {0}")]
    ServerUnavailable(String),
    /// This process's compute actor is gone (the node is stopping).
    #[error("compute unavailable: {0}")]
    ComputeGone(String),
    /// The flow's stored state does not read as its kind's type.
    #[error("{kind} flow {id}: its state does not read: {source}")]
    State {
        kind: String,
        id: String,
        source: serde_json::Error,
    },
    /// Compute could not delete a server yet (its volume is still in use; asked again).
    #[error(transparent)]
    Compute(#[from] crate::compute::error::ComputeError),
    #[error("backup store: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A sealed secret of the flow's state that does not open under the master key.
    #[error("a sealed secret: {0}")]
    Secret(#[from] crate::secrets::SecretError),
    /// Arguments for a guest or compute that do not encode (`what` names them).
    #[error("{what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{kind} has no step {step}")]
    NoStep { kind: String, step: i32 },
    /// A failure reported by another layer as text (compute, storage, secrets).
    #[error("{0}")]
    Other(String),
}

impl FlowError {
    /// For `map_err`: the arguments `what` do not encode.
    pub fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> FlowError {
        move |source| FlowError::Encode { what, source }
    }

    pub fn bus(method: &str, source: BusError) -> FlowError {
        FlowError::Bus {
            method: method.to_string(),
            source,
        }
    }
}
