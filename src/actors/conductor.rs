//! The conductor: consumes `trove-conductor` and applies what guests report to the database, so
//! guests never touch it.
//!
//! Every message about an instance is first checked: signed under the key of the instance it
//! reports on, unless `[bus] sign_guest_messages` is off. The signatures are verified on a
//! blocking thread (see `checks`); a rejected message is logged, counted and dropped.
//! Heartbeats are applied in batches (one transaction for up to `[conductor] batch_max`
//! messages) and acknowledged only after the commit; the next batch is gathered and checked
//! while one is written. A batch is coalesced — of one instance's heartbeats only the newest is
//! written — and that one is applied by one conditional write of the instance's
//! `service_statuses` row, which is also the stale check: a message whose `sent` is older than
//! or equal to the last applied one for that instance changes nothing, whichever conductor
//! holds it. A periodic sweep stores
//! heartbeat expiry as FAILED_TIMEOUT_GUESTAGENT. Backup reports (`update_backup`) go through
//! the same kind of check on the backup row (attempt, `sent`, not ended) and wake the backup's
//! flow.

mod checks;
mod heartbeat_batch;

use crate::bus::{self, Delivery, Subscription};
use crate::db::models::backup::{Backup, BackupReport};
use crate::db::models::fault::InstanceFault;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::DbError;
use crate::guest::messages::FaultReport;
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;
use checks::Checked;
use futures::{FutureExt, StreamExt};
use heartbeat_batch::{write_heartbeats, CheckedHeartbeats};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const KIND: &str = "conductor";
/// How many heartbeats the conductor's consumer holds unacknowledged at least: a batch (a
/// transaction) is at most half of that, so that the next one can be gathered while it is
/// written. With `[bus] prefetch` (64) they held 57 on average over RabbitMQ.
const HOLD_AT_LEAST: u16 = 1024;

pub struct Conductor {
    services: Services,
    failures: u32,
    /// Set when the consumer failed and the supervisor is about to restart this actor.
    restart_pending: bool,
}

impl Conductor {
    pub fn new(services: Services) -> Conductor {
        Conductor {
            services,
            failures: 0,
            restart_pending: false,
        }
    }
}

impl Actor for Conductor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id, Parent::ROOT);
        let delay = crate::bus::retry::backoff(self.services.config.taskmanager.retry_backoff_ms, self.failures);
        let services = self.services.clone();
        let consume = async move {
            tokio::time::sleep(delay).await;
            consume(services, bus::CONDUCTOR).await
        };
        ctx.spawn(consume.into_actor(self).map(|reason, act, ctx| {
            act.failures += 1;
            act.restart_pending = true;
            act.services.supervision.failed(KIND, &act.services.node_id, &reason);
            ctx.stop();
        }));
        let every = self.services.config.conductor.expiry_sweep_interval_s;
        ctx.run_interval(every, |act, ctx| {
            let expiry_ms = act.services.config.guest.heartbeat_expiry_s.as_millis() as i64;
            let db = act.services.db.clone();
            let sweep = async move { db.run(move |c| ServiceStatusRow::sweep_expired(c, expiry_ms)).await };
            ctx.spawn(sweep.into_actor(act).map(|swept, _, _| match swept {
                Ok(0) => {}
                Ok(n) => tracing::info!(heartbeats.expired = n, "{n} guests stopped heartbeating"),
                Err(e) => tracing::warn!("heartbeat expiry sweep failed: {e}"),
            }));
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        let pending = self.restart_pending;
        self.services
            .supervision
            .stopped(KIND, &self.services.node_id, "stopping", pending);
    }
}

impl Supervised for Conductor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restart_pending = false;
        self.services
            .supervision
            .restarting(KIND, &self.services.node_id, "consumer failed");
    }
}

/// Consumes `topic` until the bus closes or a batch cannot be committed; returns why it stopped.
pub async fn consume(services: Services, topic: &str) -> String {
    let (mut subscription, held_at_most): (Subscription, usize) = services.bus.subscribe_holding(topic, HOLD_AT_LEAST);
    let batch_max = services.config.conductor.batch_max.clamp(1, (held_at_most / 2).max(1));
    let linger = Duration::from_micros(services.config.conductor.batch_linger_ms.as_micros() as u64);
    // The batch being written: its transaction runs on a blocking thread while the next batch is
    // gathered and checked here. One at a time, so batches commit in the order they came.
    let mut writing: Option<BatchWrite> = None;
    loop {
        let next = match writing.as_mut() {
            None => subscription.next().await,
            Some(write) => tokio::select! {
                written = write => {
                    writing = None;
                    match outcome(written) {
                        Ok(()) => continue,
                        Err(reason) => return reason,
                    }
                }
                next = subscription.next() => next,
            },
        };
        let Some(first) = next else {
            return match finish_write(&mut writing).await {
                Ok(()) => "the bus closed".into(),
                Err(reason) => format!("the bus closed; {reason}"),
            };
        };
        let batch = gather(&mut subscription, first, batch_max, linger).await;
        let checked = match check_batch(&services, batch).await {
            Ok(checked) => checked,
            Err(e) => {
                // Never two writes at once, even across a restart of this consumer.
                let _ = finish_write(&mut writing).await;
                return format!("applying guest messages: {e}");
            }
        };
        if let Err(reason) = finish_write(&mut writing).await {
            return reason;
        }
        writing = Some(tokio::task::spawn_local(write_heartbeats(services.clone(), checked)));
    }
}

/// A batch: `first`, what is there now, and what comes within `linger`, up to `batch_max`.
async fn gather(subscription: &mut Subscription, first: Delivery, batch_max: usize, linger: Duration) -> Vec<Delivery> {
    let mut batch = Vec::with_capacity(batch_max.min(256));
    batch.push(first);
    let until = Instant::now() + linger;
    while batch.len() < batch_max {
        match subscription.next().now_or_never() {
            Some(Some(d)) => batch.push(d),
            Some(None) => break,
            None => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(left, subscription.next()).await {
                    Ok(Some(d)) => batch.push(d),
                    _ => break,
                }
            }
        }
    }
    batch
}

/// A batch being written, on a task of its own.
type BatchWrite = tokio::task::JoinHandle<Result<(), BatchError>>;

/// Waits for the batch being written, if any.
async fn finish_write(writing: &mut Option<BatchWrite>) -> Result<(), String> {
    match writing.take() {
        Some(write) => outcome(write.await),
        None => Ok(()),
    }
}

/// Why a batch's write stopped the consumer, if it did.
fn outcome(written: Result<Result<(), BatchError>, tokio::task::JoinError>) -> Result<(), String> {
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("applying guest messages: {e}")),
        Err(e) => Err(format!("writing guest messages: {e}")),
    }
}

/// Why a batch was not applied (its unacknowledged messages come again).
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("reading guest keys: {0}")]
    Keys(String),
    #[error("checking signatures: {0}")]
    Check(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Checks one batch's messages and applies the ones that are not heartbeats; returns the
/// heartbeats to write. A rejected message is answered and dropped.
async fn check_batch(services: &Services, batch: Vec<Delivery>) -> Result<CheckedHeartbeats, BatchError> {
    let checked = checks::check(services, batch).await?;
    let mut heartbeats = Vec::with_capacity(checked.len());
    let mut keep = Vec::with_capacity(checked.len());
    for (delivery, checked) in checked {
        match checked {
            Checked::Heartbeat(heartbeat) => {
                heartbeats.push(heartbeat);
                keep.push(delivery);
            }
            Checked::Other => apply_other(services, delivery).await,
            Checked::Rejected(e) => {
                services.metrics.messages_rejected.fetch_add(1, Ordering::Relaxed);
                let subject = delivery.envelope.args.get("instance_id").and_then(|v| v.as_str());
                crate::telemetry::warn_limited(
                    "guest message rejected",
                    &format!(
                        "conductor: {} about {} rejected: {e}",
                        delivery.envelope.method,
                        subject.unwrap_or("?")
                    ),
                );
                delivery.reply(Err(format!("rejected: {e}")));
            }
            Checked::Malformed(e) => {
                tracing::warn!("conductor: {e}");
                delivery.reply(Err(e));
            }
        }
    }
    Ok(CheckedHeartbeats {
        heartbeats,
        deliveries: keep,
    })
}

/// Applies a checked message that is not a heartbeat (a fault, a backup's progress).
async fn apply_other(services: &Services, delivery: Delivery) {
    let method = delivery.envelope.method.clone();
    match method.as_str() {
        "report_fault" => match delivery.envelope.args::<FaultReport>() {
            Ok(report) => {
                let id = report.instance_id.clone();
                let stored = services
                    .db
                    .run(move |c| InstanceFault::record(c, &report.instance_id, &report.message, ""))
                    .await;
                match stored {
                    Ok(()) => delivery.ack(),
                    Err(e) => tracing::warn!(instance.id = %id, "fault not stored: {e}"),
                }
            }
            Err(e) => delivery.reply(Err(e)),
        },
        "update_backup" => match delivery.envelope.args::<BackupReport>() {
            Ok(report) => {
                let id = report.backup_id.clone();
                let applied = services.db.run(move |c| Backup::apply_report(c, &report)).await;
                match applied {
                    Ok(fresh) => {
                        delivery.ack();
                        if fresh {
                            services.wakeups.wake(&id);
                        }
                    }
                    // Not acknowledged: the report comes back.
                    Err(e) => tracing::warn!(backup.id = %id, "backup update not stored: {e}"),
                }
            }
            Err(e) => delivery.reply(Err(e)),
        },
        other => {
            tracing::warn!(method = other, "conductor: unknown method {other}");
            delivery.reply(Err(format!("unknown method {other}")));
        }
    }
}
