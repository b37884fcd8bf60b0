//! Backup flows, run by a backup's flow actor (the BackupActor; the flow's target is the backup).
//!
//! `backup`: cast the guest `create_backup` for the backup's current attempt, then wait for the
//! conductor to record its result. An attempt that failed, that made no progress for
//! `[backup] progress_timeout_s` (its guest died), or that no guest runs any more after a
//! restart, is followed by the next attempt, up to `[backup] max_attempts`; then the backup is
//! FAILED with the last reason. Past the flow's deadline it is FAILED too: never BUILDING forever.
//!
//! `delete_backup`: delete the objects of the backup and of every backup chained on it, then
//! the rows, releasing their quota. A registered backup's object (of no instance) is left, as
//! in Trove: coffer did not write it.

use super::error::FlowError;
use super::{FlowCtx, StepOutcome};
use crate::db::models::backup::{self, Backup};
use crate::db::models::quota;
use crate::db::{now_ms, write_tx};
use crate::guest::messages::{encode, RetainLogs};
use crate::guest::BackupJob;
use crate::ids::{BackupId, ProjectId};
use serde_json::json;
use std::time::Duration;

pub const STEPS: &[&str] = &["start_attempt", "wait_for_result"];
pub const DELETE_STEPS: &[&str] = &["delete_objects"];

pub async fn step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.flow.target_id.clone();
    let Some(b) = ctx.db(move |c| Backup::find(c, &id)).await? else {
        return Ok(StepOutcome::Done); // deleted meanwhile
    };
    if b.state == backup::COMPLETED {
        retain_logs(&ctx, b.instance_id.clone()).await;
        return Ok(StepOutcome::Done);
    }
    if !b.is_running() {
        return Ok(StepOutcome::Fail(b.fail_reason.unwrap_or_else(|| b.state.clone())));
    }
    match ctx.flow.step {
        0 => {
            if !b.attempt_failed {
                let Some(parent_meta) = parent_meta(&ctx, &b).await? else {
                    let reason = "the parent backup is gone or not completed";
                    let id = b.id.clone();
                    ctx.db(move |c| Backup::fail(c, &id, reason)).await?;
                    return Ok(StepOutcome::Fail(reason.into()));
                };
                start_attempt(&ctx, &b, parent_meta).await?;
            }
            Ok(ctx.keep())
        }
        1 => wait_for_result(ctx, b).await,
        n => Err(ctx.no_step(n)),
    }
}

/// The parent's meta for an incremental (`Some(None)` for a full backup); None when the parent
/// is gone or not completed, which no retry mends.
async fn parent_meta(ctx: &FlowCtx, b: &Backup) -> Result<Option<Option<serde_json::Value>>, FlowError> {
    let Some(parent) = b.parent_id.clone() else {
        return Ok(Some(None));
    };
    let found = ctx.db(move |c| Backup::find(c, &parent)).await?;
    Ok(found
        .filter(|p| p.state == backup::COMPLETED)
        .map(|p| Some(p.meta_json())))
}

/// Casts `create_backup` for the backup's current attempt.
async fn start_attempt(ctx: &FlowCtx, b: &Backup, parent_meta: Option<serde_json::Value>) -> Result<(), FlowError> {
    let job = BackupJob {
        backup_id: BackupId::new(b.id.clone()),
        tenant_id: ProjectId::new(b.tenant_id.clone()),
        attempt: b.attempt,
        parent_meta,
        compression_level: ctx.services.config.backup.compression_level,
    };
    let args = serde_json::to_value(&job).map_err(FlowError::encode("create_backup arguments"))?;
    ctx.services
        .guests
        .cast(&b.instance_id, "create_backup", args)
        .await
        .map_err(|e| FlowError::bus("create_backup", e))
}

/// Whether the instance's guest is running this backup's current attempt now.
async fn guest_runs(ctx: &FlowCtx, b: &Backup) -> Result<bool, FlowError> {
    let asked = ctx
        .services
        .guests
        .call(
            &b.instance_id,
            "backup_running",
            json!({"backup_id": b.id}),
            Duration::from_secs(5),
        )
        .await;
    match asked {
        Ok(v) => Ok(v.as_i64() == Some(b.attempt as i64)),
        Err(e) if e.is_no_answer() => Ok(false),
        Err(e) => Err(FlowError::bus("backup_running", e)),
    }
}

async fn wait_for_result(ctx: FlowCtx, b: Backup) -> Result<StepOutcome, FlowError> {
    let cfg = &ctx.services.config.backup;
    let stalled_ms = cfg.progress_timeout_s.as_millis() as i64;
    let lost = if b.attempt_failed {
        None
    } else if now_ms() - b.progress_at > stalled_ms {
        Some(format!(
            "attempt {} made no progress for {} s",
            b.attempt,
            cfg.progress_timeout_s.as_secs()
        ))
    } else if ctx.resumed && !guest_runs(&ctx, &b).await? {
        Some(format!(
            "attempt {} was lost (its guest or coffer restarted)",
            b.attempt
        ))
    } else {
        return Ok(ctx.poll());
    };
    let reason = lost
        .or(b.fail_reason.clone())
        .unwrap_or_else(|| "the backup failed".into());
    let (id, attempt) = (b.id.clone(), b.attempt);
    if attempt < cfg.max_attempts {
        tracing::warn!(backup.id = %id, attempt, "backup attempt failed, trying again: {reason}");
        let why = reason.clone();
        if ctx.db(move |c| Backup::next_attempt(c, &id, attempt, &why)).await? {
            let mut next = b.clone();
            next.attempt += 1;
            match parent_meta(&ctx, &next).await? {
                Some(meta) => start_attempt(&ctx, &next, meta).await?,
                None => return Err(FlowError::Other("the parent backup is gone or not completed".into())),
            }
        }
        return Ok(ctx.poll());
    }
    let message = format!("{reason} (after {attempt} attempts)");
    let why = message.clone();
    ctx.db(move |c| Backup::fail(c, &id, &why)).await?;
    retain_logs(&ctx, b.instance_id.clone()).await;
    Ok(StepOutcome::Fail(message))
}

pub async fn on_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let id = ctx.flow.target_id.clone();
    let timeout = ctx.services.config.backup.timeout_s.as_secs();
    ctx.db(move |c| Backup::fail(c, &id, &format!("the backup did not finish within {timeout} s")))
        .await
        .map(|_| ())
}

/// Deletes the backup's objects and those of its descendants, then their rows.
pub async fn delete_step(ctx: FlowCtx) -> Result<StepOutcome, FlowError> {
    let id = ctx.flow.target_id.clone();
    let all = ctx.db(move |c| Backup::with_descendants(c, &id)).await?;
    if all.is_empty() {
        return Ok(StepOutcome::Done);
    }
    if let Some(running) = all.iter().find(|b| b.is_running()) {
        return Err(FlowError::Other(format!(
            "backup {} of the chain is still running",
            running.id
        )));
    }
    let instance_id = all[0].instance_id.clone();
    // Children first, each row gone with its objects: a chain never keeps a member whose
    // objects are deleted, nor gets a hole in its middle.
    for b in all.into_iter().rev() {
        if b.taken_of().is_some() {
            ctx.services.backup_store.delete_backup(&b.tenant_id, &b.id).await?;
        }
        ctx.db(move |c| {
            write_tx(c, |c| {
                if Backup::mark_deleted(c, &b.id)? {
                    quota::release(c, &b.tenant_id, &[("backups", 1)])?;
                }
                Ok(())
            })
        })
        .await?;
    }
    retain_logs(&ctx, instance_id).await;
    Ok(StepOutcome::Done)
}

/// Tells the instance's guest the oldest log position a live backup may still chain on (the
/// lowest end LSN of its completed backups), so the WAL archive in its volume stops growing
/// without bound; nothing while a backup of it runs. Best effort: the next ended backup says it
/// again.
async fn retain_logs(ctx: &FlowCtx, instance_id: String) {
    use crate::guest::postgres::parse_lsn;
    let id = instance_id.clone();
    let keep = ctx
        .db(move |c| {
            if crate::db::models::instance::Instance::find(c, &id)?.is_none() {
                return Ok(None);
            }
            let all = Backup::of_instance(c, &id)?;
            if all.iter().any(|b| b.is_running()) {
                return Ok(None);
            }
            let oldest = all
                .iter()
                .filter(|b| b.state == backup::COMPLETED)
                .filter_map(|b| b.meta_json()["end_lsn"].as_str().map(str::to_string))
                .filter_map(|l| parse_lsn(&l).map(|n| (n, l)))
                .min();
            Ok(Some(oldest.map(|(_, l)| l)))
        })
        .await;
    let Ok(Some(keep_from)) = keep else { return };
    let cast = ctx
        .services
        .guests
        .cast(&instance_id, "retain_logs", encode(&RetainLogs { keep_from }))
        .await;
    if let Err(e) = cast {
        tracing::warn!(instance.id = %instance_id, "retain_logs not sent: {e}");
    }
}

pub async fn on_delete_deadline(ctx: FlowCtx) -> Result<(), FlowError> {
    let id = ctx.flow.target_id.clone();
    let reason = ctx
        .flow
        .last_error
        .clone()
        .unwrap_or_else(|| "the objects could not be deleted".into());
    ctx.db(move |c| Backup::set_state(c, &id, backup::DELETE_FAILED, Some(&reason)))
        .await
}
