//! Restart: the guest restarts its datastore → a healthy heartbeat newer than the restart
//! arrives → task NONE. Unlike Trove, a failed restart is not only logged: it leaves a fault.

use super::error::FlowError;
use super::state::RestartState;
use super::{FlowCtx, StepOutcome};
use crate::db::models::instance::Instance;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::now_ms;
use crate::status::Task;
use serde_json::json;

pub const STEPS: &[&str] = &["restart_datastore", "wait_until_healthy", "clear_task"];

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.flow.step {
        0 => {
            let timeout = ctx.services.config.guest.call_high_timeout_s;
            let started = now_ms();
            ctx.call_guest("restart", json!({}), timeout)
                .await
                .map_err(|e| FlowError::bus("restart", e))?;
            StepOutcome::next(&RestartState {
                restarted_at: Some(started),
            })
        }
        1 => {
            let since = ctx.state::<RestartState>()?.restarted_at.unwrap_or(0);
            let id = ctx.instance_id().to_string();
            let status = ctx.db(move |c| ServiceStatusRow::find(c, &id)).await?;
            match status {
                Some(row) if row.updated_at >= since && row.status().is_some_and(|s| s.is_ready()) => Ok(ctx.keep()),
                _ => Ok(ctx.poll()),
            }
        }
        2 => {
            let id = ctx.instance_id().to_string();
            // The restart applied every configuration value the server owed it.
            Ok(StepOutcome::done_recording(move |c| {
                Instance::set_restart_pending(c, &id, false)?;
                Instance::clear_task(c, &id, Task::Rebooting).map(drop)
            }))
        }
        n => Err(ctx.no_step(n)),
    }
}

/// The datastore did not come back in time: the task is cleared (the service status shows
/// what is wrong) and a fault says so.
pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let message = "Restart timed out waiting for the datastore to report healthy.".to_string();
    ctx.clear_task_with_fault(Task::Rebooting, message).await
}
