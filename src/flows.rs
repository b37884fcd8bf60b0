//! The long operations as persisted state machines. A flow is a row in `flows` (kind, target,
//! step, state JSON, deadline); each kind is a list of idempotent steps that check before they
//! act. [`FlowActor`](crate::actors::flow_actor::FlowActor) runs them one step at a time
//! and records the step reached before the next begins, so any restart resumes where it was.
//!
//! Each step answers with a [`StepOutcome`]; an `Err` is a transient failure that the actor's
//! supervisor retries with back-off until the flow's deadline, after which the kind's
//! `on_deadline` puts the instance into Trove's error state and releases what was allocated.

pub mod backup;
pub mod configure;
pub mod create;
pub mod delete;
pub mod error;
pub mod kind;
pub mod rebuild;
pub mod replication;
pub mod resize;
pub mod restart;
pub mod state;
pub mod switchover;

use crate::bus::BusError;
use crate::compute::messages::{ComputeHandle, Route};
use crate::db::models::flow::Flow;
use crate::db::{DbConn, DbError};
use crate::ids::InstanceId;
use crate::services::Services;
use std::time::Duration;

pub use error::FlowError;
pub use kind::{FlowKind, Target, TargetId, WakeUp};

/// What a step found and leaves to be written in the transaction that records its outcome (the
/// step reached, or the flow's end): a crash leaves neither or both. Like a step's own write,
/// the record stands when the flow was cancelled or taken over meanwhile (its move then
/// changes nothing): what the step found is true either way.
pub type Recording = Box<dyn FnOnce(&mut DbConn) -> Result<(), DbError> + Send>;

/// What a step decided.
pub enum StepOutcome {
    /// Go on to the next step with this state (its kind's type as JSON, see [`StepOutcome::next`]).
    Next(String),
    /// Go on with this state, writing the record with the advance.
    NextRecording(String, Recording),
    /// Not yet: run this step again after the pause.
    Wait(Duration),
    /// The flow is complete.
    Done,
    /// The flow is complete once the record is written, with the flow's end.
    DoneRecording(Recording),
    /// The flow cannot succeed; the kind's failure handling has run.
    Fail(String),
}

impl std::fmt::Debug for StepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepOutcome::Next(state) => write!(f, "Next({state})"),
            StepOutcome::NextRecording(state, _) => write!(f, "NextRecording({state}, ..)"),
            StepOutcome::Wait(pause) => write!(f, "Wait({pause:?})"),
            StepOutcome::Done => write!(f, "Done"),
            StepOutcome::DoneRecording(_) => write!(f, "DoneRecording(..)"),
            StepOutcome::Fail(reason) => write!(f, "Fail({reason})"),
        }
    }
}

/// Everything a step may use; cheap to clone into the step's future.
#[derive(Clone)]
pub struct FlowCtx {
    pub services: Services,
    pub compute: ComputeHandle,
    pub flow: Flow,
    /// True on the first step this actor runs after it (re)started: a step that waits on
    /// something it sent earlier sends it again, since that may have been lost with a crash.
    pub resumed: bool,
}

impl StepOutcome {
    /// Go on with `state`.
    pub fn next<T: serde::Serialize>(state: &T) -> Result<StepOutcome, FlowError> {
        serde_json::to_string(state)
            .map(StepOutcome::Next)
            .map_err(|e| FlowError::Other(format!("flow state: {e}")))
    }

    /// Go on with `state`, writing `record` with the advance.
    pub fn next_recording<T, R>(state: &T, record: R) -> Result<StepOutcome, FlowError>
    where
        T: serde::Serialize,
        R: FnOnce(&mut DbConn) -> Result<(), DbError> + Send + 'static,
    {
        let state = serde_json::to_string(state).map_err(|e| FlowError::Other(format!("flow state: {e}")))?;
        Ok(StepOutcome::NextRecording(state, Box::new(record)))
    }

    /// The flow is complete once `record` is written, with the flow's end.
    pub fn done_recording<R>(record: R) -> StepOutcome
    where
        R: FnOnce(&mut DbConn) -> Result<(), DbError> + Send + 'static,
    {
        StepOutcome::DoneRecording(Box::new(record))
    }
}

impl FlowCtx {
    /// The flow's state as its kind's type.
    pub fn state<T: serde::de::DeserializeOwned>(&self) -> Result<T, FlowError> {
        self.flow.state().map_err(|source| FlowError::State {
            kind: self.flow.kind.clone(),
            id: self.flow.id.clone(),
            source,
        })
    }

    /// This flow's kind has no step `step` (a row written by a newer coffer, or a bug).
    pub fn no_step(&self, step: i32) -> FlowError {
        FlowError::NoStep {
            kind: self.flow.kind.clone(),
            step,
        }
    }

    /// Clears the instance's `task` and records `message` as its fault, in one transaction:
    /// how a flow that ran out of time leaves its instance.
    pub async fn clear_task_with_fault(&self, task: crate::status::Task, message: String) -> Result<(), FlowError> {
        use crate::db::models::{fault::InstanceFault, instance::Instance};
        let id = self.instance_id().to_string();
        self.db(move |c| {
            crate::db::write_tx(c, |c| {
                Instance::clear_task(c, &id, task)?;
                InstanceFault::record(c, &id, &message, "")
            })
        })
        .await
    }

    /// Go on with the state as it is.
    pub fn keep(&self) -> StepOutcome {
        StepOutcome::Next(self.flow.state.clone())
    }

    /// Go on with the state as it is, writing `record` with the advance.
    pub fn keep_recording<R>(&self, record: R) -> StepOutcome
    where
        R: FnOnce(&mut DbConn) -> Result<(), DbError> + Send + 'static,
    {
        StepOutcome::NextRecording(self.flow.state.clone(), Box::new(record))
    }

    pub fn instance_id(&self) -> &str {
        &self.flow.target_id
    }

    /// The flow's instance, typed (an instance flow's target).
    pub fn instance(&self) -> InstanceId {
        InstanceId::new(self.flow.target_id.clone())
    }

    pub fn poll(&self) -> StepOutcome {
        StepOutcome::Wait(self.services.config.taskmanager.poll_interval_ms)
    }

    /// Runs blocking database work for this flow.
    pub async fn db<T, F>(&self, f: F) -> Result<T, FlowError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        Ok(self.services.db.run(f).await?)
    }

    /// Casts `method` to this instance's guest.
    pub async fn cast_guest(&self, method: &str, args: serde_json::Value) -> Result<(), FlowError> {
        self.services
            .guests
            .cast(self.instance_id(), method, args)
            .await
            .map_err(|e| FlowError::bus(method, e))
    }

    /// Calls `method` on this instance's guest.
    pub async fn call_guest(
        &self,
        method: &str,
        args: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        self.services
            .guests
            .call(self.instance_id(), method, args, timeout)
            .await
    }

    pub async fn ask_compute<M>(&self, msg: M) -> Result<M::Result, FlowError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        ComputeHandle: Route<M>,
    {
        self.compute
            .route()
            .send(msg)
            .await
            .map_err(|e| FlowError::ComputeGone(e.to_string()))
    }
}

/// The server's full version as its guest reports it; `None` when it does not answer (the
/// catalog's version is shown until it does).
pub async fn server_version(ctx: &FlowCtx) -> Option<String> {
    let timeout = ctx.services.config.guest.call_low_timeout_s;
    match ctx.call_guest("server_version", serde_json::json!({}), timeout).await {
        Ok(v) => v.as_str().map(str::to_string),
        Err(e) => {
            tracing::debug!(instance.id = %ctx.instance_id(), "no server version: {e}");
            None
        }
    }
}

/// The quota a running flow holds beyond what its instance's row accounts for: a resize's
/// growth, consumed when it was asked for and recorded on the instance only when it is done.
pub fn held_quota(flow: &Flow) -> Vec<(&'static str, i32)> {
    let growth = |delta: i64| delta.max(0) as i32;
    match flow.flow_kind() {
        Some(FlowKind::ResizeFlavor) => flow
            .state::<state::ResizeFlavorState>()
            .map(|s| vec![("ram", growth(s.ram_delta))])
            .unwrap_or_default(),
        Some(FlowKind::ResizeVolume) => flow
            .state::<state::ResizeVolumeState>()
            .map(|s| vec![("volumes", growth(s.volume_delta))])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Runs the flow's current step. Each kind's step is boxed, so a pass allocates the future of
/// the step that runs (a few KiB), not one as large as the largest step of any kind.
pub async fn run_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let Some(kind) = ctx.flow.flow_kind() else {
        return Ok(StepOutcome::Fail(format!("unknown flow kind {}", ctx.flow.kind)));
    };
    match kind {
        FlowKind::Create => Box::pin(create::step(ctx)).await,
        FlowKind::Delete => Box::pin(delete::step(ctx)).await,
        FlowKind::Restart => Box::pin(restart::step(ctx)).await,
        FlowKind::ResizeFlavor => Box::pin(resize::flavor_step(ctx)).await,
        FlowKind::ResizeVolume => Box::pin(resize::volume_step(ctx)).await,
        FlowKind::Backup => Box::pin(backup::step(ctx)).await,
        FlowKind::DeleteBackup => Box::pin(backup::delete_step(ctx)).await,
        FlowKind::Upgrade | FlowKind::Rebuild => Box::pin(rebuild::step(ctx)).await,
        FlowKind::UpdateAccess => Box::pin(rebuild::access_step(ctx)).await,
        FlowKind::Configure => Box::pin(configure::step(ctx)).await,
        FlowKind::Detach => Box::pin(replication::detach_step(ctx)).await,
        FlowKind::Promote | FlowKind::Eject => Box::pin(switchover::step(ctx)).await,
    }
}

/// The flow missed its deadline: record the error state and release what it holds.
pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    match ctx.flow.flow_kind() {
        Some(FlowKind::Create) => Box::pin(create::on_deadline(ctx)).await,
        Some(FlowKind::Delete) => Box::pin(delete::on_deadline(ctx)).await,
        Some(FlowKind::Restart) => Box::pin(restart::on_deadline(ctx)).await,
        Some(FlowKind::ResizeFlavor | FlowKind::ResizeVolume) => Box::pin(resize::on_deadline(ctx)).await,
        Some(FlowKind::Backup) => Box::pin(backup::on_deadline(ctx)).await,
        Some(FlowKind::DeleteBackup) => Box::pin(backup::on_delete_deadline(ctx)).await,
        Some(FlowKind::Upgrade | FlowKind::Rebuild | FlowKind::UpdateAccess) => {
            Box::pin(rebuild::on_deadline(ctx)).await
        }
        Some(FlowKind::Configure) => Box::pin(configure::on_deadline(ctx)).await,
        Some(FlowKind::Detach) => Box::pin(replication::on_detach_deadline(ctx)).await,
        Some(FlowKind::Promote | FlowKind::Eject) => Box::pin(switchover::on_deadline(ctx)).await,
        None => Ok(()),
    }
}

/// Human name of a step of a flow stored as `kind`, for logs and `/mgmt/flows`.
pub fn step_name(kind: &str, step: i32) -> &'static str {
    let names = FlowKind::parse(kind).map_or(&[][..], FlowKind::steps);
    names.get(step as usize).copied().unwrap_or("finished")
}
