//! A replication group gets a new source: a switchover (`promote_to_replica_source`, Trove's
//! promote) or a failover (`eject_replica_source`). One list of steps serves both:
//!
//! 1. `demote_source` — the old source refuses writes for good and hands its replicas all it
//!    has (a switchover needs this; a failover tries it on a source that may be gone);
//! 2. `choose_candidate` — a switchover waits until its replica has everything; a failover
//!    picks the replica that has come furthest;
//! 3. `promote_candidate` — the candidate becomes a writable source with a slot for each member;
//! 4. `repoint_members` — the other replicas, and the old source, follow the candidate (a failed
//!    source is only configured to start as a replica: it never returns as a second source);
//! 5. `record_topology` — the rows say who follows whom, in one transaction; tasks end.
//!
//! Every step may run again after a crash. Until step 3 the old source is the only writable
//! member (or none is, once it is demoted); from step 3 on, the candidate is.

use super::error::FlowError;
use super::replication::{answered, call, enable_source, position, try_call, CATCH_UP_POLL};
use super::state::SwitchState;
use super::{FlowCtx, StepOutcome};
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::Instance;
use crate::db::write_tx;
use crate::guest::messages::encode;
use crate::guest::replication::{AttachReplica, WaitForTxn};
use crate::status::Task;
use serde_json::json;

pub const STEPS: &[&str] = &[
    "demote_source",
    "choose_candidate",
    "promote_candidate",
    "repoint_members",
    "record_topology",
];

fn task(state: &SwitchState) -> Task {
    if state.failover {
        Task::Ejecting
    } else {
        Task::Promoting
    }
}

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let state = ctx.state::<SwitchState>()?;
    match ctx.flow.step {
        0 => demote_source(&ctx, state).await,
        1 => choose_candidate(&ctx, state).await,
        2 => {
            let candidate = candidate(&state)?;
            call(
                &ctx,
                &candidate,
                "detach_replica",
                json!({"for_failover": state.failover}),
            )
            .await?;
            let mut followers = state.others.clone();
            followers.push(state.source.clone());
            enable_source(&ctx, &candidate, &followers).await?;
            Ok(ctx.keep())
        }
        3 => repoint_members(&ctx, state).await,
        4 => record_topology(&ctx, state).await,
        n => Err(ctx.no_step(n)),
    }
}

fn candidate(state: &SwitchState) -> Result<String, FlowError> {
    state
        .candidate
        .clone()
        .ok_or_else(|| FlowError::Other("no replica was chosen to become the source".into()))
}

async fn demote_source(ctx: &FlowCtx, mut state: SwitchState) -> Result<StepOutcome, FlowError> {
    let source = state.source.clone();
    let replicas = ctx
        .db(move |c| Instance::replica_rows(c, &source))
        .await?
        .into_iter()
        .map(|i| i.id)
        .filter(|id| Some(id) != state.candidate.as_ref())
        .collect();
    state.others = replicas;
    if state.failover {
        // The source's server stopped (that is why it is ejected); if its guest still answers,
        // the server is fenced now, and a fence that fails is tried again: no replica is made
        // a source while the old one may still take writes.
        let demoted = answered(ctx, &state.source, "demote_replication_master", json!({})).await?;
        state.final_position = demoted.map(position).transpose().ok().flatten();
    } else {
        let at = call(ctx, &state.source, "demote_replication_master", json!({})).await?;
        state.final_position = Some(position(at)?);
    }
    StepOutcome::next(&state)
}

async fn choose_candidate(ctx: &FlowCtx, mut state: SwitchState) -> Result<StepOutcome, FlowError> {
    if !state.failover {
        let (candidate, Some(at)) = (candidate(&state)?, state.final_position.clone()) else {
            return Ok(ctx.keep());
        };
        let reached = call(ctx, &candidate, "wait_for_txn", encode(&WaitForTxn { position: at })).await?;
        return Ok(match reached.as_bool() {
            Some(true) => ctx.keep(),
            _ => StepOutcome::Wait(CATCH_UP_POLL),
        });
    }
    if state.candidate.is_some() {
        return Ok(ctx.keep());
    }
    let mut best: Option<(crate::guest::replication::Position, String)> = None;
    for replica in &state.others {
        let Some(at) = try_call(ctx, replica, "get_last_txn", json!({})).await else {
            continue;
        };
        let at = position(at)?;
        if best.as_ref().is_none_or(|(b, _)| at.offset > b.offset) {
            best = Some((at, replica.clone()));
        }
    }
    let Some((at, chosen)) = best else {
        return Err(FlowError::Other("no replica of the source answers".into()));
    };
    tracing::info!(flow.id = %ctx.flow.id, instance.id = %chosen, position = %at.text, "failover candidate chosen");
    state.others.retain(|r| *r != chosen);
    state.candidate = Some(chosen);
    StepOutcome::next(&state)
}

async fn repoint_members(ctx: &FlowCtx, state: SwitchState) -> Result<StepOutcome, FlowError> {
    let candidate = candidate(&state)?;
    let mut followers = state.others.clone();
    followers.push(state.source.clone());
    // The candidate already has the slots: this only answers how to reach it.
    let routes = enable_source(ctx, &candidate, &followers).await?;
    for (follower, route) in followers.iter().zip(routes) {
        let args = encode(&AttachReplica { replica_of: route });
        if state.failover {
            // A member that does not answer (the failed source, most likely) is left as it
            // is; its row says whom it follows (see the README's failover guarantees).
            try_call(ctx, follower, "attach_replica", args).await;
        } else {
            call(ctx, follower, "attach_replica", args).await?;
        }
    }
    Ok(ctx.keep())
}

async fn record_topology(ctx: &FlowCtx, state: SwitchState) -> Result<StepOutcome, FlowError> {
    let candidate = candidate(&state)?;
    let task = task(&state);
    ctx.db(move |c| {
        write_tx(c, |c| {
            Instance::set_source(c, &candidate, None)?;
            Instance::clear_task(c, &candidate, task)?;
            for follower in state.others.iter().chain(std::iter::once(&state.source)) {
                Instance::set_source(c, follower, Some(&candidate))?;
                Instance::clear_task(c, follower, task)?;
            }
            if state.failover {
                let message = format!("Ejected as replica source: {candidate} is the source now.");
                InstanceFault::record(c, &state.source, &message, "")?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(StepOutcome::Done)
}

pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let state = ctx.state::<SwitchState>()?;
    let (task, error) = if state.failover {
        (Task::Ejecting, Task::EjectionError)
    } else {
        (Task::Promoting, Task::PromotionError)
    };
    let target = ctx.instance_id().to_string();
    let source = state.source.clone();
    ctx.db(move |c| {
        write_tx(c, |c| {
            let mut members = Instance::replica_rows(c, &source)?
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>();
            members.push(source.clone());
            for m in &members {
                Instance::replace_task(c, m, task, error)?;
            }
            InstanceFault::record(c, &target, "The replication source could not be changed in time.", "")
        })
    })
    .await
}
