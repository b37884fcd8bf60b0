//! Create: server → guest reachable, prepare cast → healthy heartbeat, task NONE.
//!
//! Three durable steps: the prepare is cast in the step that finds the guest reachable (its
//! record, the server ACTIVE, follows the cast: a crash between them pings and casts again,
//! and prepare is idempotent), and the step that sees the first healthy heartbeat clears the
//! task in the same write.
//!
//! Past the deadline (Trove's usage_timeout) the instance gets task BUILDING_ERROR_TIMEOUT_GA,
//! service FAILED_TIMEOUT_GUESTAGENT and a fault, and its server is released (unlike Trove,
//! which leaves it behind).

use super::error::FlowError;
use super::state::CreateState;
use super::{FlowCtx, StepOutcome};
use crate::compute::messages::{CreateServer, DeleteServer};
use crate::compute::ServerError;
use crate::db::models::catalog::{DatastoreVersion, Flavor};
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::Instance;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::write_tx;
use crate::guest::{PrepareRequest, UserSpec};
use crate::ids::InstanceId;
use crate::status::{ServiceStatus, Task};
use serde_json::json;
use std::time::Duration;

pub const STEPS: &[&str] = &["create_server", "prepare", "wait_until_healthy"];

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.flow.step {
        0 => Box::pin(create_server(ctx)).await,
        1 => Box::pin(prepare(ctx)).await,
        // 3 and 4: a create recorded by a binary of five steps (wait_until_healthy, clear_task),
        // running across the upgrade: waiting for the healthy heartbeat finishes either.
        2..=4 => Box::pin(wait_until_healthy(ctx)).await,
        n => Err(ctx.no_step(n)),
    }
}

async fn create_server(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    let mut state = ctx.state::<CreateState>()?;
    let (manager, ram) = match (state.manager.clone(), state.memory_mb) {
        (Some(manager), Some(ram)) => (manager, ram),
        // A flow recorded before the create kept them: from the instance's version and flavor.
        _ => {
            let lookup = id.clone();
            ctx.db(move |c| {
                let inst = Instance::find(c, &lookup)?.ok_or(diesel::result::Error::NotFound)?;
                let version =
                    DatastoreVersion::find(c, &inst.datastore_version_id)?.ok_or(diesel::result::Error::NotFound)?;
                let ram = Flavor::find(c, &inst.flavor_id)?.map(|f| f.ram).unwrap_or(0);
                Ok((version.manager, i64::from(ram)))
            })
            .await?
        }
    };
    let manager = crate::manager::Manager::parse(&manager)
        .ok_or_else(|| FlowError::Other(format!("datastore {manager} is not one coffer runs")))?;
    // A real server keeps the address an earlier attempt recorded (its record stands even when
    // a takeover stopped its advance); a simulated one has none.
    let address = match manager.is_simulated() {
        true => None,
        false => {
            let lookup = id.clone();
            ctx.db(move |c| Instance::find(c, &lookup).map(|found| found.and_then(|i| i.address)))
                .await?
        }
    };
    let server = ctx
        .ask_compute(CreateServer {
            instance_id: InstanceId::new(id.clone()),
            manager,
            address,
            request_id: crate::telemetry::request::current(),
        })
        .await?;
    let server = match server {
        Ok(s) => s,
        // The broker or the database is away: retried (with back-off) until the deadline.
        Err(ServerError::Unavailable(e)) => return Err(FlowError::ServerUnavailable(e)),
        Err(ServerError::Refused(e)) => {
            let message = format!("The server could not be created: {e}");
            fail(&ctx, Task::BuildingErrorServer, ServiceStatus::Failed, &message).await?;
            return Ok(StepOutcome::Fail(message));
        }
    };
    state.memory_mb = Some(ram);
    state.manager = Some(manager.as_str().to_string());
    StepOutcome::next_recording(&state, move |c| {
        Instance::set_server(
            c,
            &id,
            Some("BUILD"),
            Some(&server.compute_instance_id),
            server.address.as_deref(),
        )
    })
}

/// Once the guest answers a ping: the prepare cast, and the server recorded ACTIVE.
async fn prepare(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    match ctx.call_guest("rpc_ping", json!({}), Duration::from_secs(1)).await {
        Ok(_) => {
            ctx.cast_guest("prepare", prepare_args(&ctx).await?).await?;
            let id = ctx.instance_id().to_string();
            Ok(ctx.keep_recording(move |c| Instance::set_server_status(c, &id, "ACTIVE")))
        }
        Err(e) if e.is_no_answer() => Ok(ctx.poll()),
        Err(e) => Err(FlowError::bus("rpc_ping", e)),
    }
}

/// The prepare message: what the create recorded, with the users' passwords unsealed (they
/// travel only signed and sealed under the guest's key; the flow state keeps them sealed), and
/// the configuration group's values the server starts with.
async fn prepare_args(ctx: &FlowCtx) -> Result<serde_json::Value, FlowError> {
    let id = ctx.instance_id().to_string();
    let state = ctx.state::<CreateState>()?;
    let overrides = if state.without_configuration {
        Default::default()
    } else {
        ctx.db(move |c| super::configure::desired(c, &id)).await?
    };
    // A replica: its source makes a slot for it and says how to reach it.
    let replica_of = match &state.replica_of {
        Some(source) => {
            let routes = super::replication::enable_source(ctx, source, &[id_of(ctx)]).await?;
            routes.into_iter().next()
        }
        None => None,
    };
    let key = &ctx.services.secrets;
    let open = |sealed: &crate::secrets::Sealed| sealed.open(key);
    let mut users = Vec::with_capacity(state.users.len());
    for user in &state.users {
        users.push(UserSpec {
            name: user.name.clone(),
            password: open(&user.password_sealed)?,
            host: user.host.clone(),
            databases: user.databases.clone(),
        });
    }
    let request = PrepareRequest {
        memory_mb: state.memory_mb.unwrap_or(0),
        volume_size_gb: state.volume_size.map(i64::from),
        databases: state.databases,
        users,
        allowed_cidrs: state.allowed_cidrs,
        root_password: state.root_password_sealed.as_ref().map(open).transpose()?,
        volume_limit_mb: state
            .volume_size
            .map(|gb| i64::from(gb) * ctx.services.config.testing.volume_unit_mb),
        restore: state.restore,
        overrides,
        replica_of,
    };
    serde_json::to_value(&request).map_err(FlowError::encode("prepare arguments"))
}

async fn wait_until_healthy(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    if ctx.resumed {
        // The prepare cast may have been lost with a crash; prepare is idempotent.
        ctx.cast_guest("prepare", prepare_args(&ctx).await?).await?;
    }
    let id = ctx.instance_id().to_string();
    let status = ctx.db(move |c| ServiceStatusRow::find(c, &id)).await?;
    match status.and_then(|s| s.status()) {
        Some(s) if s.is_ready() => {
            let id = ctx.instance_id().to_string();
            let version = super::server_version(&ctx).await;
            Ok(StepOutcome::done_recording(move |c| {
                Instance::set_provisioned(c, &id, version.as_deref(), None, None)?;
                Instance::clear_task(c, &id, Task::Building).map(drop)
            }))
        }
        Some(ServiceStatus::Failed) => {
            let id = ctx.instance_id().to_string();
            let reported = ctx.db(move |c| InstanceFault::latest(c, &id)).await?;
            let message = match reported {
                Some(f) => format!("The guest failed to prepare the datastore: {}", f.message),
                None => "The guest failed to prepare the datastore.".to_string(),
            };
            fail(&ctx, Task::BuildingErrorServer, ServiceStatus::Failed, &message).await?;
            Ok(StepOutcome::Fail("guest reported FAILED".into()))
        }
        _ => Ok(ctx.poll()),
    }
}

fn id_of(ctx: &FlowCtx) -> String {
    ctx.instance_id().to_string()
}

/// Puts the instance into an error task with a fault and releases its server.
async fn fail(ctx: &FlowCtx, task: Task, service: ServiceStatus, message: &str) -> Result<(), FlowError> {
    let id = ctx.instance_id().to_string();
    let message = message.to_string();
    let _ = super::replication::release_slot(ctx, &id).await;
    let _ = ctx
        .ask_compute(DeleteServer {
            instance_id: InstanceId::new(id.clone()),
        })
        .await;
    ctx.db(move |c| {
        write_tx(c, |c| {
            if !Instance::replace_task(c, &id, Task::Building, task)? {
                return Ok(()); // a delete took over; it releases the rest
            }
            Instance::set_server(c, &id, None, None, None)?;
            ServiceStatusRow::set(c, &id, service)?;
            InstanceFault::record(c, &id, &message, "")
        })
    })
    .await
}

pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    fail(
        &ctx,
        Task::BuildingErrorTimeoutGa,
        ServiceStatus::FailedTimeoutGuestagent,
        "Build timed out waiting for the guest agent to report healthy.",
    )
    .await
}
