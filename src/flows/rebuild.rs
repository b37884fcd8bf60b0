//! Re-provisioning an instance's server in place, and its access rules.
//!
//! Upgrade (`PUT /instances/{id}` with `datastore_version`) and an admin's rebuild
//! (`POST /mgmt/instances/{id}/action {"rebuild": …}`) share one flow: the guest stops the
//! server, renders its configuration anew and starts it with the version's installed binaries
//! on the same volume → a healthy heartbeat newer than that → the new version (or image) and the
//! server's reported version are recorded and the task cleared. Unlike Trove, the version is
//! written only once the server runs it, and a failure leaves the instance on its old version
//! with a fault, not in BUILDING_ERROR_SERVER.
//!
//! Access (`PUT` with `access`): the guest applies the rules → they are recorded on the instance
//! → task cleared. Until then the instance shows the rules it had; past the deadline it keeps
//! them and gets a fault.

use super::error::FlowError;
use super::state::{AccessState, RebuildState};
use super::{FlowCtx, FlowKind, StepOutcome};
use crate::db::models::instance::Instance;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{now_ms, write_tx};
use crate::guest::messages::{encode, UpdateAccess};
use crate::status::Task;
use serde_json::json;

pub const STEPS: &[&str] = &["rebuild_server", "wait_until_healthy", "record_version"];
pub const ACCESS_STEPS: &[&str] = &["apply_access", "record_access"];

/// The task a re-provisioning flow holds.
fn task_of(ctx: &FlowCtx) -> Task {
    match ctx.flow.flow_kind() {
        Some(FlowKind::Upgrade) => Task::Upgrading,
        _ => Task::Rebuilding,
    }
}

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.flow.step {
        0 => {
            let timeout = ctx.services.config.guest.call_high_timeout_s;
            let started = now_ms();
            let version = ctx
                .call_guest("rebuild", json!({}), timeout)
                .await
                .map_err(|e| FlowError::bus("rebuild", e))?;
            let mut state = ctx.state::<RebuildState>()?;
            state.rebuilt_at = Some(started);
            state.server_version = version.as_str().map(str::to_string);
            StepOutcome::next(&state)
        }
        1 => {
            let since = ctx.state::<RebuildState>()?.rebuilt_at.unwrap_or(0);
            let id = ctx.instance_id().to_string();
            let status = ctx.db(move |c| ServiceStatusRow::find(c, &id)).await?;
            match status {
                Some(row) if row.updated_at >= since && row.status().is_some_and(|s| s.is_ready()) => Ok(ctx.keep()),
                _ => Ok(ctx.poll()),
            }
        }
        2 => {
            let (id, task) = (ctx.instance_id().to_string(), task_of(&ctx));
            let RebuildState {
                server_version,
                datastore_version_id: version_id,
                image_id,
                ..
            } = ctx.state()?;
            ctx.db(move |c| {
                write_tx(c, |c| {
                    Instance::set_provisioned(
                        c,
                        &id,
                        server_version.as_deref(),
                        version_id.as_deref(),
                        image_id.as_deref(),
                    )?;
                    Instance::set_restart_pending(c, &id, false)?;
                    Instance::clear_task(c, &id, task)
                })
            })
            .await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

pub async fn access_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.flow.step {
        0 => {
            let cidrs = ctx.state::<AccessState>()?.access.allowed_cidrs;
            let timeout = ctx.services.config.guest.call_high_timeout_s;
            ctx.call_guest("update_access", encode(&UpdateAccess { allowed_cidrs: cidrs }), timeout)
                .await
                .map_err(|e| FlowError::bus("update_access", e))?;
            Ok(ctx.keep())
        }
        1 => {
            let id = ctx.instance_id().to_string();
            let access = serde_json::to_string(&ctx.state::<AccessState>()?.access)
                .map_err(FlowError::encode("allowed cidrs"))?;
            ctx.db(move |c| {
                write_tx(c, |c| {
                    Instance::set_access(c, &id, &access)?;
                    Instance::clear_task(c, &id, Task::Updating)
                })
            })
            .await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

/// The server did not come back (or the rules were not applied) in time: the task is cleared,
/// nothing is recorded, and a fault says so.
pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let (task, what) = match ctx.flow.flow_kind() {
        Some(FlowKind::UpdateAccess) => (Task::Updating, "Updating the access rules"),
        Some(FlowKind::Upgrade) => (Task::Upgrading, "The upgrade"),
        _ => (Task::Rebuilding, "The rebuild"),
    };
    let message = format!("{what} timed out; the instance keeps what it had.");
    ctx.clear_task_with_fault(task, message).await
}
