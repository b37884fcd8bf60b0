//! What the replication flows share — a member's guest, how a replica reaches its source —
//! and the detach flow: replica promoted to a writable instance of its own → its slot released
//! on the source → the row no longer names a source.

use super::error::FlowError;
use super::{FlowCtx, StepOutcome};
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::Instance;
use crate::db::write_tx;
use crate::guest::replication::{slot_name, DropSlot, EnableSource, Position, ReplicaOf};
use crate::status::Task;
use serde_json::{json, Value};
use std::time::Duration;

pub const DETACH_STEPS: &[&str] = &["detach_replica", "release_slot", "record_detach"];

/// A member's row.
pub async fn member(ctx: &FlowCtx, id: &str) -> Result<Instance, FlowError> {
    let lookup = id.to_string();
    ctx.db(move |c| Instance::find(c, &lookup)?.ok_or(diesel::result::Error::NotFound.into()))
        .await
}

/// Calls `method` on the guest of member `id` (the high timeout: these change servers).
pub async fn call(ctx: &FlowCtx, id: &str, method: &str, args: Value) -> Result<Value, FlowError> {
    let timeout = ctx.services.config.guest.call_high_timeout_s;
    ctx.services
        .guests
        .call(id, method, args, timeout)
        .await
        .map_err(|e| FlowError::bus(method, e))
}

/// Like [`call`], with the low timeout, for a member that may be gone (logged, not an error).
pub async fn try_call(ctx: &FlowCtx, id: &str, method: &str, args: Value) -> Option<Value> {
    match answered(ctx, id, method, args).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(instance.id = %id, flow.id = %ctx.flow.id, "{method} failed: {e}");
            None
        }
    }
}

/// `method` on a guest that may be gone: `None` when nothing answers (no guest, no answer in
/// time); an error the guest answers with is an error.
pub async fn answered(ctx: &FlowCtx, id: &str, method: &str, args: Value) -> Result<Option<Value>, FlowError> {
    let timeout = ctx.services.config.guest.call_low_timeout_s;
    match ctx.services.guests.call(id, method, args, timeout).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_no_answer() => {
            tracing::warn!(instance.id = %id, flow.id = %ctx.flow.id, "{method} not answered: {e}");
            Ok(None)
        }
        Err(e) => Err(FlowError::bus(method, e)),
    }
}

/// The group's replication password, from member `id`'s row.
fn password(ctx: &FlowCtx, inst: &Instance) -> Result<String, FlowError> {
    let sealed = inst
        .replication_secret
        .as_deref()
        .ok_or_else(|| FlowError::Other(format!("instance {} has no replication password", inst.id)))?;
    Ok(ctx.services.secrets.open(sealed)?)
}

/// The datastore a member runs.
async fn manager_of(ctx: &FlowCtx, inst: &Instance) -> Result<crate::manager::Manager, FlowError> {
    use crate::db::models::catalog::DatastoreVersion;
    let version_id = inst.datastore_version_id.clone();
    let version = ctx
        .db(move |c| DatastoreVersion::find(c, &version_id)?.ok_or(diesel::result::Error::NotFound.into()))
        .await?;
    crate::manager::Manager::parse(&version.manager)
        .ok_or_else(|| FlowError::Other(format!("datastore {} is not one coffer runs", version.manager)))
}

/// Makes member `source_id` a source for `replicas` (the account, a slot each) and answers
/// how the first of them reaches it.
pub async fn enable_source(ctx: &FlowCtx, source_id: &str, replicas: &[String]) -> Result<Vec<ReplicaOf>, FlowError> {
    let source = member(ctx, source_id).await?;
    let password = password(ctx, &source)?;
    let slots: Vec<String> = replicas.iter().map(|r| slot_name(r)).collect();
    let args = EnableSource {
        slots: slots.clone(),
        password: password.clone(),
    };
    let answer = call(
        ctx,
        source_id,
        "enable_as_master",
        crate::guest::messages::encode(&args),
    )
    .await?;
    let shared_password = answer["shared_password"].as_str().map(String::from);
    let manager = manager_of(ctx, &source).await?;
    let port = manager
        .standard_port()
        .ok_or_else(|| FlowError::Other(format!("datastore {} has no port", manager.as_str())))?;
    let address = source
        .address
        .ok_or_else(|| FlowError::Other(format!("source {source_id} has no address yet")))?;
    Ok(slots
        .into_iter()
        .map(|slot| ReplicaOf {
            address: address.clone(),
            port,
            slot,
            password: password.clone(),
            shared_password: shared_password.clone(),
        })
        .collect())
}

/// Releases `replica_id`'s slot on its source, when it has one (best effort: a source that
/// does not answer keeps it until it is told again or deleted).
pub async fn release_slot(ctx: &FlowCtx, replica_id: &str) -> Result<(), FlowError> {
    let replica = member(ctx, replica_id).await?;
    if let Some(source) = replica.slave_of_id {
        let args = crate::guest::messages::encode(&DropSlot {
            slot: slot_name(replica_id),
        });
        try_call(ctx, &source, "cleanup_source_on_replica_detach", args).await;
    }
    Ok(())
}

/// A position a guest answered.
pub fn position(value: Value) -> Result<Position, FlowError> {
    serde_json::from_value(value).map_err(|e| FlowError::Other(format!("a replication position: {e}")))
}

pub async fn detach_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    match ctx.flow.step {
        0 => {
            call(&ctx, &id, "detach_replica", json!({"for_failover": false})).await?;
            Ok(ctx.keep())
        }
        1 => {
            release_slot(&ctx, &id).await?;
            Ok(ctx.keep())
        }
        2 => {
            ctx.db(move |c| {
                write_tx(c, |c| {
                    Instance::set_source(c, &id, None)?;
                    Instance::clear_task(c, &id, Task::Detaching).map(|_| ())
                })
            })
            .await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

pub async fn on_detach_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let id = ctx.instance_id().to_string();
    ctx.db(move |c| {
        write_tx(c, |c| {
            Instance::replace_task(c, &id, Task::Detaching, Task::PromotionError)?;
            InstanceFault::record(c, &id, "The replica could not be detached from its source in time.", "")
        })
    })
    .await
}

/// How long a step waits before it asks a replica again whether it caught up.
pub const CATCH_UP_POLL: Duration = Duration::from_millis(200);
