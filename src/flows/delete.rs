//! Delete: stop the datastore (best effort) → delete the server → soft-delete the rows.
//!
//! A delete may arrive while the create flow still runs: the API cancels the create flow in the
//! same transaction that records this one, the create stops at its next step boundary, and this
//! flow releases whatever the create had allocated.

use super::error::FlowError;
use super::{FlowCtx, StepOutcome};
use crate::compute::messages::{DeleteServer, ServerExists};
use crate::db::models::catalog::Flavor;
use crate::db::models::fault::InstanceFault;
use crate::db::models::guest_key::GuestKeyRow;
use crate::db::models::instance::Instance;
use crate::db::models::quota;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::write_tx;
use crate::status::ServiceStatus;
use serde_json::json;
use std::time::Duration;

pub const STEPS: &[&str] = &["stop_datastore", "delete_server", "forget_instance"];

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.flow.step {
        0 => stop_datastore(ctx).await,
        1 => {
            let id = ctx.instance_id().to_string();
            ctx.ask_compute(DeleteServer {
                instance_id: ctx.instance(),
            })
            .await??;
            Ok(ctx.keep_recording(move |c| Instance::set_server(c, &id, None, None, None)))
        }
        2 => {
            forget(&ctx).await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

async fn stop_datastore(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let exists = ctx
        .ask_compute(ServerExists {
            instance_id: ctx.instance(),
        })
        .await?;
    if exists {
        let timeout = ctx.services.config.guest.call_low_timeout_s.min(Duration::from_secs(5));
        if let Err(e) = ctx.call_guest("stop_db", json!({}), timeout).await {
            // As in Trove, a guest that cannot stop does not keep its server alive.
            tracing::warn!(instance.id = %ctx.instance_id(), error = %e, "stop_db before delete failed: {e}");
        }
    }
    // A replica's source keeps WAL for it until its slot goes.
    super::replication::release_slot(&ctx, ctx.instance_id()).await?;
    Ok(ctx.keep())
}

async fn forget(ctx: &FlowCtx) -> Result<(), FlowError> {
    let id = ctx.instance_id().to_string();
    ctx.db(move |c| {
        write_tx(c, |c| {
            Instance::lock(c, &id)?;
            // The resources are really gone now: their quota is given back with the row.
            if let Some(inst) = Instance::find(c, &id)? {
                let ram = Flavor::find(c, &inst.flavor_id)?.map(|f| f.ram).unwrap_or(0);
                let deltas = [
                    ("instances", 1),
                    ("ram", ram),
                    ("volumes", inst.volume_size.unwrap_or(0)),
                ];
                quota::release(c, &inst.tenant_id, &deltas)?;
            }
            Instance::mark_deleted(c, &id)?;
            ServiceStatusRow::set(c, &id, ServiceStatus::Deleted)?;
            GuestKeyRow::delete_for(c, &id)?;
            InstanceFault::soft_delete_all(c, &id)
        })
    })
    .await?;
    // Its key verifies nothing any more.
    ctx.services.guests.keys().forget(ctx.instance_id());
    Ok(())
}

/// A delete past its deadline still completes: the server is released and the rows forgotten.
pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let id = ctx.instance();
    if let Err(e) = ctx.ask_compute(DeleteServer { instance_id: id }).await? {
        tracing::warn!(instance.id = %ctx.instance_id(), "the volume outlived its delete: {e}");
    }
    forget(&ctx).await
}
