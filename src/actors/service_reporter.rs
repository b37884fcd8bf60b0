//! Every coffer process's entry in the cluster's service list: the reporter registers the
//! process in `services` at start and refreshes it every `[cluster] report_interval_s` (role,
//! node id, host, pid, version, start, last seen, and a pool's capacity and hosted guests), and
//! carries the process's supervision events to `supervision_events`. Processes with the
//! database write there; a guest pool, which never touches it, casts its report (sealed under
//! the master key) to a conductor, which writes it ([`store_pool_report`]) and answers.

use crate::bus::{self, Bus, Delivery, Envelope};
use crate::db::models::cluster::{EventRow, NewEvent, ServiceRow};
use crate::db::models::event::StoredEvent;
use crate::db::{Db, DbConn, DbError};
use crate::secrets::MasterKey;
use crate::services::Services;
use crate::telemetry::supervision::{Parent, SupervisionEvent, SupervisionLog};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "service_reporter";
/// Events carried per report at most.
const EVENTS_PER_REPORT: usize = 5_000;
/// How long a conductor may take to store a pool's report.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reports between two trims of the stored events.
const TRIM_EVERY: u64 = 300;

/// Where reports go.
pub enum ReportSink {
    /// Straight to the database, which keeps the newest `events_kept` stream events.
    Db { db: Db, events_kept: i64 },
    /// To a conductor, sealed under the master key.
    Conductor(Bus, Arc<MasterKey>),
}

/// `report_service`'s arguments: a [`SealedReport`] as JSON, sealed under the master key.
#[derive(Serialize, Deserialize)]
struct ReportService {
    sealed: crate::secrets::Sealed,
}

/// What a pool casts to the conductor (`report_service`), sealed.
#[derive(Serialize, Deserialize)]
struct SealedReport {
    /// When it was sent (ms): a conductor refuses one far from its own clock (a replay).
    pub sent_at: i64,
    pub service: ServiceRow,
    pub events: Vec<SupervisionEvent>,
}

/// How far a pool's report may be from the conductor's clock.
const REPORT_FRESH_MS: i64 = 30_000;

/// Writes a report and its events (a reporter's, or a pool's through the conductor).
pub fn store(conn: &mut DbConn, report: &ServiceRow, events: &[SupervisionEvent]) -> Result<(), DbError> {
    ServiceRow::report(conn, report)?;
    let rows: Vec<NewEvent> = events
        .iter()
        .map(|e| NewEvent {
            at: e.at,
            service_id: report.id.clone(),
            node_id: report.node_id.clone(),
            kind: e.kind.clone(),
            actor_id: e.actor_id.clone(),
            event: e.event.clone(),
            reason: e.reason.clone(),
        })
        .collect();
    EventRow::insert(conn, &rows)
}

/// Stores a guest pool's report (sealed under the master key, which only the deployment's
/// processes hold) in the service list. A report that does not open is dropped.
pub async fn store_pool_report(services: &Services, delivery: Delivery) {
    let report = delivery
        .envelope
        .args::<ReportService>()
        .and_then(|args| args.sealed.open(&services.secrets).map_err(|e| e.to_string()))
        .and_then(|text| serde_json::from_str::<SealedReport>(&text).map_err(|e| e.to_string()))
        .and_then(|r| match (crate::db::now_ms() - r.sent_at).abs() <= REPORT_FRESH_MS {
            true => Ok(r),
            false => Err(format!("sent at {} ms, too far from now (a replay?)", r.sent_at)),
        });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            services.metrics.messages_rejected.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::warn_limited(
                "service report rejected",
                &format!("conductor: service report rejected: {e}"),
            );
            return delivery.reply(Err(format!("rejected: {e}")));
        }
    };
    let stored = services
        .db
        .run(move |c| store(c, &report.service, &report.events))
        .await;
    match stored {
        Ok(()) => delivery.reply(Ok(serde_json::Value::Null)),
        Err(e) => {
            crate::telemetry::warn_limited("service report", &format!("service report not stored: {e}"));
            delivery.reply(Err(format!("not stored: {e}")));
        }
    }
}

/// Stores this process's events not yet stored (before `/mgmt/supervision-events` reads them,
/// so that a reader sees its own process's events at once).
pub async fn store_pending(db: &Db, supervision: &SupervisionLog, me: &ServiceRow) -> Result<(), DbError> {
    let me = me.clone();
    loop {
        let events = supervision.take_unsent(EVENTS_PER_REPORT);
        if events.is_empty() {
            return Ok(());
        }
        let me = me.clone();
        db.run(move |c| store(c, &me, &events)).await?;
    }
}

pub struct ServiceReporter {
    me: ServiceRow,
    sink: Arc<ReportSink>,
    supervision: Arc<SupervisionLog>,
    /// A pool's hosted guests, read at each report.
    hosted: Option<Arc<AtomicI64>>,
    every: Duration,
    reports: u64,
    /// Events taken but not yet stored (the last report failed).
    carried: Vec<SupervisionEvent>,
}

impl ServiceReporter {
    pub fn new(me: ServiceRow, sink: ReportSink, supervision: Arc<SupervisionLog>, every: Duration) -> Self {
        supervision.forward_events();
        ServiceReporter {
            me,
            sink: Arc::new(sink),
            supervision,
            hosted: None,
            every,
            reports: 0,
            carried: Vec::new(),
        }
    }

    pub fn with_hosted(mut self, hosted: Arc<AtomicI64>) -> Self {
        self.hosted = Some(hosted);
        self
    }

    fn report(&mut self, ctx: &mut Context<Self>) {
        let mut me = self.me.clone();
        me.actors = Some(self.supervision.summary());
        if let Some(hosted) = &self.hosted {
            me.hosted = Some(hosted.load(Ordering::Relaxed));
        }
        let mut events = std::mem::take(&mut self.carried);
        events.extend(
            self.supervision
                .take_unsent(EVENTS_PER_REPORT.saturating_sub(events.len())),
        );
        self.reports += 1;
        let trim = self.reports % TRIM_EVERY == 1;
        let sink = Arc::clone(&self.sink);
        let sent = async move {
            let outcome = match &*sink {
                ReportSink::Db { db, events_kept } => {
                    let kept = *events_kept;
                    let (me, batch) = (me.clone(), events.clone());
                    db.run(move |c| {
                        store(c, &me, &batch)?;
                        if trim {
                            EventRow::trim(c)?;
                            StoredEvent::trim(c, kept)?;
                            ServiceRow::forget_gone(c)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())
                }
                ReportSink::Conductor(bus, master) => {
                    let sealed = SealedReport {
                        sent_at: crate::db::now_ms(),
                        service: me,
                        events: events.clone(),
                    };
                    let text = serde_json::to_string(&sealed).unwrap_or_default();
                    let args = crate::guest::messages::encode(&ReportService {
                        sealed: master.seal_secret(&text),
                    });
                    // A call, not a cast: with no conductor running it fails at once instead of
                    // piling reports up in the conductors' queue.
                    bus.call(bus::CONDUCTOR, Envelope::new("report_service", args), REPORT_TIMEOUT)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            };
            outcome.map_err(|e| (e, events))
        };
        ctx.spawn(sent.into_actor(self).map(|outcome, act, _| {
            if let Err((e, mut events)) = outcome {
                crate::telemetry::warn_limited("service report", &format!("service report not stored: {e}"));
                events.truncate(EVENTS_PER_REPORT);
                act.carried = events;
            }
        }));
    }
}

impl Actor for ServiceReporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.supervision.started(KIND, &self.me.node_id, Parent::ROOT);
        self.report(ctx);
        ctx.run_interval(self.every, |act, ctx| act.report(ctx));
    }
}

impl Supervised for ServiceReporter {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.supervision.restarting(KIND, &self.me.node_id, "reporter stopped");
    }
}
