//! The backup scheduler: every `[backup] scheduler_tick_s` it starts the scheduled backups that
//! are due and deletes what the schedules' retention no longer keeps.
//!
//! A due run is claimed and its backup recorded in one transaction (see
//! [`BackupSchedule::claim_run`]); if the backup cannot start (the instance is busy), nothing is
//! claimed and the run is tried again at the next tick. So a restart neither skips nor doubles a
//! run, and several schedulers (nodes) can run side by side. Retention applies to the scheduled
//! full backups that COMPLETED: beyond the newest `retention_count`, or older than
//! `retention_days`, a backup is deleted with the incrementals chained on it.

use crate::bus;
use crate::db::models::backup::{self, Backup};
use crate::db::models::backup_schedule::{BackupSchedule, RunKind};
use crate::db::models::flow::Flow;
use crate::db::models::instance::Instance;
use crate::db::{now_ms, write_tx, DbConn, DbError};
use crate::error::ApiError;
use crate::intents::backups::{self as backup_intents, CreateBackup};
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;

const KIND: &str = "backup_scheduler";
const DAY_MS: i64 = 86_400_000;

pub struct BackupScheduler {
    services: Services,
}

/// Looks for due runs and expired backups now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

impl BackupScheduler {
    pub fn new(services: Services) -> BackupScheduler {
        BackupScheduler { services }
    }
}

impl Actor for BackupScheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id, Parent::ROOT);
        let every = self.services.config.backup.scheduler_tick_s;
        ctx.notify(Tick);
        ctx.run_interval(every, |_, ctx| ctx.notify(Tick));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .stopped(KIND, &self.services.node_id, "system stopping", false);
    }
}

impl Supervised for BackupScheduler {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .restarting(KIND, &self.services.node_id, "scheduler stopped");
    }
}

impl Handler<Tick> for BackupScheduler {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) -> Self::Result {
        let services = self.services.clone();
        let work = async move {
            let cfg = services.config.clone();
            let expiry = cfg.guest.heartbeat_expiry_s.as_millis() as i64;
            let deadline = cfg.backup.timeout_s.as_millis() as i64;
            let limits = crate::db::models::quota::Defaults::from(&cfg.quota);
            let flows = services
                .db
                .run(move |c| tick(c, now_ms(), expiry, deadline, &limits))
                .await;
            match flows {
                Ok(flows) => {
                    for flow in flows {
                        let Some(kind) = flow.flow_kind() else { continue };
                        let method = kind.method();
                        let cast = crate::flows::WakeUp::envelope(kind, &flow.target_id);
                        if let Err(e) = services.bus.cast(bus::TASKMANAGER, cast).await {
                            tracing::warn!(flow.id = %flow.id, "cast {method} failed, the scan will find the flow: {e}");
                        }
                    }
                }
                Err(e) => tracing::warn!(actor.kind = KIND, "backup schedules: {e}"),
            }
            services
                .metrics
                .scheduler_passes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        Box::pin(work.into_actor(self))
    }
}

/// One pass over the schedules; returns the flows to cast.
fn tick(
    conn: &mut DbConn,
    now: i64,
    expiry_ms: i64,
    deadline_ms: i64,
    limits: &crate::db::models::quota::Defaults,
) -> Result<Vec<Flow>, DbError> {
    let mut flows = Vec::new();
    for schedule in BackupSchedule::all(conn)? {
        if Instance::find(conn, &schedule.instance_id)?.is_none() {
            BackupSchedule::delete(conn, &schedule.instance_id)?; // the instance is gone
            continue;
        }
        for kind in [RunKind::Full, RunKind::Incremental] {
            let (due, every_ms) = match kind {
                RunKind::Full => (Some(schedule.next_full_at), schedule.full_every_s * 1000),
                RunKind::Incremental => (
                    schedule.next_incremental_at,
                    schedule.incremental_every_s.unwrap_or(0) * 1000,
                ),
            };
            let Some(due) = due.filter(|d| *d <= now) else { continue };
            match start_run(
                conn,
                &schedule,
                kind,
                due,
                every_ms,
                now,
                expiry_ms,
                deadline_ms,
                limits,
            )? {
                Ok(Some(flow)) => flows.push(flow),
                Ok(None) => {}
                Err(why) => {
                    tracing::info!(instance.id = %schedule.instance_id, "scheduled backup waits: {why}");
                    BackupSchedule::note_error(conn, &schedule.instance_id, &why.to_string())?;
                }
            }
        }
        flows.extend(apply_retention(conn, &schedule, now, deadline_ms)?);
    }
    Ok(flows)
}

/// Claims a due run and records its backup, both or neither.
#[allow(clippy::too_many_arguments)]
fn start_run(
    conn: &mut DbConn,
    schedule: &BackupSchedule,
    kind: RunKind,
    due: i64,
    every_ms: i64,
    now: i64,
    expiry_ms: i64,
    deadline_ms: i64,
    limits: &crate::db::models::quota::Defaults,
) -> Result<Result<Option<Flow>, ApiError>, DbError> {
    let next = BackupSchedule::next_after(due, every_ms, now);
    let id = schedule.instance_id.clone();
    let result = write_tx(conn, |c| {
        if !BackupSchedule::claim_run(c, &id, kind, due, next)? {
            return Ok(None); // another scheduler took it
        }
        if kind == RunKind::Incremental && Backup::last_completed(c, &id)?.is_none() {
            return Ok(None); // nothing to chain on yet: this slot passes
        }
        let stamp = chrono::DateTime::from_timestamp_millis(due)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let req = CreateBackup {
            name: format!(
                "scheduled {} {stamp}",
                if kind == RunKind::Full { "full" } else { "incremental" }
            ),
            instance_id: id.clone(),
            description: Some("made by the instance's backup schedule".into()),
            parent_id: None,
            incremental: kind == RunKind::Incremental,
        };
        let (b, flow) = backup_intents::record_backup(c, &schedule.tenant_id, &req, expiry_ms, deadline_ms, limits)?;
        Backup::mark_scheduled(c, &b.id)?;
        Ok(Some(flow))
    });
    match result {
        Ok(flow) => Ok(Ok(flow)),
        Err(ApiError::Internal(e)) | Err(ApiError::Unavailable(e)) => Err(DbError::Task(e)),
        Err(refused) => Ok(Err(refused)),
    }
}

/// Deletes the scheduled full backups (with their chains) the retention no longer keeps.
fn apply_retention(
    conn: &mut DbConn,
    schedule: &BackupSchedule,
    now: i64,
    deadline_ms: i64,
) -> Result<Vec<Flow>, DbError> {
    if schedule.retention_count.is_none() && schedule.retention_days.is_none() {
        return Ok(Vec::new());
    }
    let mut fulls: Vec<Backup> = Backup::of_instance(conn, &schedule.instance_id)?
        .into_iter()
        .filter(|b| b.schedule_run && b.parent_id.is_none() && b.state == backup::COMPLETED)
        .collect();
    fulls.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    let mut flows = Vec::new();
    for (i, b) in fulls.iter().enumerate() {
        let too_many = schedule.retention_count.is_some_and(|n| i >= n.max(1) as usize);
        let too_old = schedule
            .retention_days
            .is_some_and(|d| now - b.created > d as i64 * DAY_MS && i > 0);
        if !(too_many || too_old) {
            continue;
        }
        match backup_intents::delete_backup(conn, Some(&b.tenant_id), &b.id, deadline_ms) {
            Ok(Some(flow)) => {
                tracing::info!(backup.id = %b.id, instance.id = %b.instance_id, "retention: deleting backup {}", b.id);
                flows.push(flow);
            }
            Ok(None) => {}
            Err(ApiError::Internal(e)) | Err(ApiError::Unavailable(e)) => return Err(DbError::Task(e)),
            Err(e) => tracing::info!(backup.id = %b.id, "retention waits: {e}"),
        }
    }
    Ok(flows)
}
