//! A guest session's backup attempt: runs the datastore's dump into the object store, reports
//! progress while bytes are stored and the result at the end (`update_backup`), for the attempt
//! it was asked to run; a newer attempt of the same backup supersedes a running one.

use super::to_conductor::BackupReporter;
use super::GuestSession;
use crate::bus::Delivery;
use crate::db::models::backup::{self, BackupReport};
use crate::guest::BackupJob;
use crate::ids::BackupId;
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The backup attempt a guest session runs.
pub(super) struct RunningBackup {
    pub(super) backup_id: BackupId,
    pub(super) attempt: i32,
    task: SpawnHandle,
    ticker: SpawnHandle,
}

impl GuestSession {
    pub(super) fn handle_create_backup(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let job: BackupJob = match delivery.envelope.args() {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(instance.id = %self.instance_id, "{e}");
                delivery.reply(Err(e));
                return;
            }
        };
        delivery.ack();
        if let Some(running) = self.backup.take() {
            if running.backup_id == job.backup_id && running.attempt >= job.attempt {
                self.backup = Some(running);
                return; // a repeated cast of the attempt already running
            }
            // A newer attempt supersedes it: dropping its future stops its dump.
            tracing::warn!(instance.id = %self.instance_id, backup.id = %running.backup_id, attempt = running.attempt, "backup attempt superseded; stopping it");
            ctx.cancel_future(running.task);
            ctx.cancel_future(running.ticker);
        }
        let stored = Arc::new(AtomicU64::new(0));
        let store = self.env.backup_store.clone();
        let report = BackupReporter {
            link: self.conductor(),
            store: store.clone(),
            backup_id: job.backup_id.clone(),
            attempt: job.attempt,
        };
        tracing::info!(instance.id = %self.instance_id, backup.id = %job.backup_id, attempt = job.attempt, "backup started");
        let running = self.datastore.create_backup(job, store, Arc::clone(&stored));
        ctx.spawn(report.clone().send(progress_report(0)).into_actor(self));
        let every = self.env.config.backup.progress_interval_s;
        let (progress, counter) = (report.clone(), Arc::clone(&stored));
        let mut reported = 0;
        // Progress is reported only when bytes were stored since: a hung dump goes quiet and its
        // flow takes the attempt as lost after `progress_timeout_s`.
        let ticker = ctx.run_interval(every, move |act, ctx| {
            let size = counter.load(Ordering::Relaxed);
            if size <= reported {
                return;
            }
            reported = size;
            ctx.spawn(progress.clone().send(progress_report(size as i64)).into_actor(act));
        });
        let (backup_id, attempt) = (report.backup_id.clone(), report.attempt);
        let task = ctx.spawn(running.into_actor(self).map(move |result, act, ctx| {
            ctx.cancel_future(ticker);
            if act
                .backup
                .as_ref()
                .is_some_and(|r| r.backup_id == report.backup_id && r.attempt == report.attempt)
            {
                act.backup = None;
            }
            let args = match result {
                Ok(done) => {
                    tracing::info!(instance.id = %act.instance_id, backup.id = %report.backup_id, size = done.size, "backup stored");
                    BackupReport {
                        state: backup::COMPLETED.into(),
                        size_bytes: Some(done.size as i64),
                        checksum: Some(done.checksum),
                        location: Some(report.store.location(&done.object_key)),
                        object_key: Some(done.object_key),
                        meta: Some(done.meta),
                        ..BackupReport::default()
                    }
                }
                Err(e) => {
                    tracing::warn!(instance.id = %act.instance_id, backup.id = %report.backup_id, "backup failed: {e}");
                    BackupReport {
                        state: backup::FAILED.into(),
                        reason: Some(e.to_string()),
                        ..BackupReport::default()
                    }
                }
            };
            ctx.spawn(report.send(args).into_actor(act));
        }));
        self.backup = Some(Box::new(RunningBackup {
            backup_id,
            attempt,
            task,
            ticker,
        }));
    }
}

/// A running attempt's progress: BUILDING with the bytes stored so far.
fn progress_report(size_bytes: i64) -> BackupReport {
    BackupReport {
        state: backup::BUILDING.into(),
        size_bytes: Some(size_bytes),
        ..BackupReport::default()
    }
}
