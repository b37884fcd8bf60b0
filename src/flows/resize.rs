//! Resize, two flows: `resize_flavor` (the guest re-renders its server's memory settings and
//! restarts; then the instance's flavor is recorded) and `resize_volume` (the guest grows the
//! volume limit, lifting read-only if the data fits again; then the size is recorded).
//! A guest that refuses ends the flow with the task cleared and a fault; a guest that does not
//! answer is tried again until the deadline.
//!
//! Quota: the growth was consumed when the resize was asked for. Every ending — recorded,
//! refused, timed out — ends the flow row in the same transaction as its quota change, only if
//! the row is still running; a DELETE or `reset_status` that cancelled it first has given the
//! growth back already (see `held_quota`), so nothing is counted twice or lost.

use super::error::FlowError;
use super::state::{ResizeFlavorState, ResizeVolumeState};
use super::{FlowCtx, StepOutcome};
use crate::bus::BusError;
use crate::db::models::fault::InstanceFault;
use crate::db::models::flow::{Flow, DONE, FAILED};
use crate::db::models::instance::Instance;
use crate::db::models::quota;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{now_ms, write_tx, DbConn, DbError};
use crate::guest::messages::{encode, Resize, ResizeFs};
use crate::status::Task;

pub const FLAVOR_STEPS: &[&str] = &["apply_memory", "wait_until_healthy", "record_flavor"];
pub const VOLUME_STEPS: &[&str] = &["grow_volume", "record_size"];

/// Inside an ending's transaction: takes the instance's row, then ends the flow with `status`
/// if it still runs; false (change nothing) when a DELETE or reset_status ended it first.
fn end_flow(c: &mut DbConn, ctx: (&str, &str, &str), status: &str, error: Option<&str>) -> Result<bool, DbError> {
    let (instance_id, flow_id, node) = ctx;
    Instance::lock(c, instance_id)?;
    Flow::finish(c, flow_id, node, status, error)
}

/// Ends the flow: its held growth given back, task cleared, and a fault saying why.
async fn give_up(ctx: &FlowCtx, message: String) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    let fault = message.clone();
    let (flow, node) = (ctx.flow.clone(), ctx.services.node_id.clone());
    ctx.db(move |c| {
        write_tx(c, |c| {
            if !end_flow(c, (&id, &flow.id, &node), FAILED, Some(&fault))? {
                return Ok(()); // cancelled or taken over: whoever did it owns the ending
            }
            if let Some(inst) = Instance::find(c, &id)? {
                quota::release(c, &inst.tenant_id, &crate::flows::held_quota(&flow))?;
            }
            Instance::clear_task(c, &id, Task::Resizing)?;
            InstanceFault::record(c, &id, &fault, "")
        })
    })
    .await?;
    Ok(StepOutcome::Fail(message))
}

/// Calls the guest; a refusal gives up, silence is retried.
async fn guest(ctx: &FlowCtx, method: &str, args: serde_json::Value) -> Result<Option<StepOutcome>, FlowError> {
    let timeout = ctx.services.config.guest.call_high_timeout_s;
    match ctx.call_guest(method, args, timeout).await {
        Ok(_) => Ok(None),
        Err(BusError::Remote(text)) => {
            let reason = crate::guest::protocol::decode_error(&text);
            Ok(Some(give_up(ctx, format!("Resize failed: {reason}")).await?))
        }
        Err(e) => Err(FlowError::bus(method, e)),
    }
}

pub async fn flavor_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    match ctx.flow.step {
        0 => {
            let started = now_ms();
            let mut state = ctx.state::<ResizeFlavorState>()?;
            let args = encode(&Resize {
                memory_mb: state.memory_mb,
            });
            if let Some(end) = guest(&ctx, "resize", args).await? {
                return Ok(end);
            }
            state.resized_at = Some(started);
            StepOutcome::next(&state)
        }
        1 => {
            let since = ctx.state::<ResizeFlavorState>()?.resized_at.unwrap_or(0);
            let row = ctx.db(move |c| ServiceStatusRow::find(c, &id)).await?;
            match row {
                Some(r) if r.updated_at >= since && r.status().is_some_and(|s| s.is_ready()) => Ok(ctx.keep()),
                _ => Ok(ctx.poll()),
            }
        }
        2 => {
            let ResizeFlavorState {
                flavor_id: flavor,
                ram_delta,
                ..
            } = ctx.state()?;
            let shrink = -ram_delta as i32;
            let (flow_id, node) = (ctx.flow.id.clone(), ctx.services.node_id.clone());
            ctx.db(move |c| {
                write_tx(c, |c| {
                    if !end_flow(c, (&id, &flow_id, &node), DONE, None)? {
                        return Ok(());
                    }
                    Instance::set_flavor(c, &id, &flavor)?;
                    if let Some(inst) = Instance::find(c, &id)? {
                        quota::release(c, &inst.tenant_id, &[("ram", shrink)])?;
                    }
                    // The server restarted with its whole configuration.
                    Instance::set_restart_pending(c, &id, false)?;
                    Instance::clear_task(c, &id, Task::Resizing).map(|_| ())
                })
            })
            .await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

pub async fn volume_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    let size = ctx.state::<ResizeVolumeState>()?.size;
    match ctx.flow.step {
        0 => {
            let limit_mb = size * ctx.services.config.testing.volume_unit_mb;
            let args = encode(&ResizeFs {
                size_gb: size,
                limit_mb,
            });
            if let Some(end) = guest(&ctx, "resize_fs", args).await? {
                return Ok(end);
            }
            Ok(ctx.keep())
        }
        1 => {
            let (flow_id, node) = (ctx.flow.id.clone(), ctx.services.node_id.clone());
            ctx.db(move |c| {
                write_tx(c, |c| {
                    if !end_flow(c, (&id, &flow_id, &node), DONE, None)? {
                        return Ok(());
                    }
                    Instance::set_volume_size(c, &id, size as i32)?;
                    // A full volume's fault is over once it has grown.
                    InstanceFault::soft_delete_all(c, &id)?;
                    Instance::clear_task(c, &id, Task::Resizing).map(|_| ())
                })
            })
            .await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    give_up(&ctx, "Resize timed out waiting for the guest.".into())
        .await
        .map(|_| ())
}
