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
    #[error("backup store: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("{kind} has no step {step}")]
    NoStep { kind: String, step: i32 },
    /// A failure reported by another layer as text (compute, storage, secrets).
    #[error("{0}")]
    Other(String),
}

impl FlowError {
    pub fn bus(method: &str, source: BusError) -> FlowError {
        FlowError::Bus {
            method: method.to_string(),
            source,
        }
    }
}

impl From<String> for FlowError {
    fn from(text: String) -> FlowError {
        FlowError::Other(text)
    }
}
