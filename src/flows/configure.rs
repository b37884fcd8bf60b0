//! The configure flow: brings an instance's server to the values of the configuration group it
//! has now (none after a detach). It reads that set when it starts, so a flow recorded for an
//! older change sends the newest values, and one resumed after a crash sends what it sent
//! before; the guest writes the set into the server's configuration (`update_overrides`), then
//! applies what the running server can take (`apply_overrides`). What waits for a restart
//! leaves the instance RESTART_REQUIRED, which the next restart clears.

use super::state::ConfigureState;
use super::{FlowCtx, FlowError, StepOutcome};
use crate::db::models::configuration::{CatalogRow, Configuration};
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::Instance;
use crate::db::{DbConn, DbError};
use crate::guest::messages::{encode, AppliedOverrides, Override, Overrides};
use crate::guest::GuestError;
use std::collections::BTreeMap;

pub const STEPS: &[&str] = &["update_overrides", "apply_overrides", "record"];

/// The values `instance_id`'s server should run with: its group's, each with the catalog's
/// restart flag (a value whose parameter an admin withdrew from the catalog is not sent).
pub fn desired(conn: &mut DbConn, instance_id: &str) -> Result<BTreeMap<String, Override>, DbError> {
    let Some(inst) = Instance::find(conn, instance_id)? else {
        return Ok(BTreeMap::new());
    };
    let Some(group) = inst.configuration_id.as_deref() else {
        return Ok(BTreeMap::new());
    };
    let catalog: BTreeMap<String, bool> = CatalogRow::for_version(conn, &inst.datastore_version_id)?
        .into_iter()
        .map(|row| (row.name, row.restart_required))
        .collect();
    Ok(Configuration::values(conn, group)?
        .into_iter()
        .filter_map(|(name, value)| {
            let restart_required = *catalog.get(&name)?;
            Some((
                name,
                Override {
                    value,
                    restart_required,
                },
            ))
        })
        .collect())
}

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let timeout = ctx.services.config.guest.call_high_timeout_s;
    match ctx.flow.step {
        0 => {
            let id = ctx.instance_id().to_string();
            let gone = ctx
                .db({
                    let id = id.clone();
                    move |c| Ok(Instance::find(c, &id)?.is_none())
                })
                .await?;
            if gone {
                return Ok(StepOutcome::Done);
            }
            let mut state: ConfigureState = ctx.state()?;
            let overrides = match state.overrides.clone() {
                Some(kept) => kept,
                None => ctx.db(move |c| desired(c, &id)).await?,
            };
            state.overrides = Some(overrides.clone());
            match call(&ctx, "update_overrides", overrides, timeout).await? {
                Ok(_) => StepOutcome::next(&state),
                Err(refused) => give_up(&ctx, refused).await,
            }
        }
        1 => {
            let mut state: ConfigureState = ctx.state()?;
            let overrides = state.overrides.clone().unwrap_or_default();
            match call(&ctx, "apply_overrides", overrides, timeout).await? {
                Ok(answer) => {
                    let applied: AppliedOverrides =
                        serde_json::from_value(answer).map_err(|source| FlowError::Encode {
                            what: "apply_overrides' answer",
                            source,
                        })?;
                    if !applied.refused.is_empty() {
                        // The rest was applied: what waits for a restart is recorded, then the
                        // refusal ends the flow with a fault naming what the server runs without.
                        record(&ctx, !applied.pending_restart.is_empty()).await?;
                        let refused = GuestError::Unprocessable(format!(
                            "The server refused the configuration parameters {}; it runs without them.",
                            applied.refused.join(", ")
                        ));
                        return give_up(&ctx, refused).await;
                    }
                    state.pending_restart = Some(applied.pending_restart);
                    StepOutcome::next(&state)
                }
                Err(refused) => give_up(&ctx, refused).await,
            }
        }
        2 => {
            let pending = !ctx
                .state::<ConfigureState>()?
                .pending_restart
                .unwrap_or_default()
                .is_empty();
            record(&ctx, pending).await?;
            Ok(StepOutcome::Done)
        }
        n => Err(ctx.no_step(n)),
    }
}

/// Records whether the server owes a restart to its configuration (nothing for an instance
/// that is gone).
async fn record(ctx: &FlowCtx, pending: bool) -> Result<(), FlowError> {
    let id = ctx.instance_id().to_string();
    ctx.db(move |c| {
        crate::db::write_tx(c, |c| match Instance::find(c, &id)? {
            Some(_) => Instance::set_restart_pending(c, &id, pending),
            None => Ok(()),
        })
    })
    .await
}

/// Calls the guest; `Ok(Err(message))` when the guest refused the values (retrying cannot
/// help), `Err` when it could not be asked or did not answer (the step is retried).
async fn call(
    ctx: &FlowCtx,
    method: &str,
    overrides: BTreeMap<String, Override>,
    timeout: std::time::Duration,
) -> Result<Result<serde_json::Value, GuestError>, FlowError> {
    match ctx.call_guest(method, encode(&Overrides { overrides }), timeout).await {
        Ok(answer) => Ok(Ok(answer)),
        // The guest refused the values (retrying cannot help); a failure of its own (a server
        // that did not answer in time, a file it could not write) is retried.
        Err(crate::bus::BusError::Remote(message)) => match crate::guest::protocol::decode_error(&message) {
            GuestError::Failed(_) => Err(FlowError::bus(method, crate::bus::BusError::Remote(message))),
            refused => Ok(Err(refused)),
        },
        Err(e) => Err(FlowError::bus(method, e)),
    }
}

/// The guest refused the values: the instance keeps what its server runs, and a fault says why.
async fn give_up(ctx: &FlowCtx, reason: GuestError) -> Result<StepOutcome, FlowError> {
    let id = ctx.instance_id().to_string();
    let message = format!("The configuration could not be applied: {reason}");
    let fault = message.clone();
    ctx.db(move |c| InstanceFault::record(c, &id, &fault, "")).await?;
    Ok(StepOutcome::Fail(message))
}

/// The flow did not end in time (a guest that does not answer): a fault says the server and
/// its group may differ until the group is applied again (no task is held).
pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let id = ctx.instance_id().to_string();
    let message = "Applying the configuration group timed out; the server may not run with its values until \
                   the group is attached or changed again."
        .to_string();
    ctx.db(move |c| InstanceFault::record(c, &id, &message, "")).await
}
