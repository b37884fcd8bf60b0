//! One target's work in flight — an instance's (the InstanceActor of the architecture) or a
//! backup's (the BackupActor): runs the target's flows, oldest first, one step at a time.
//!
//! The flow row is the truth and this actor a cache of it. After each step, the step reached
//! is written conditionally on the step we ran and on the row being still ours and running (so
//! a flow never goes back, and a cancellation or a takeover is seen at the step boundary), in
//! one transaction with what the step found (its [`Recording`](crate::flows::Recording)). The
//! row is read again only when that write did not move it on, after a flow's end, and after a
//! wait; else the runner goes on from the row as its write left it. A step's
//! error or panic (caught here, at the boundary) stops the actor; its supervisor restarts it,
//! `started()` waits out a back-off and the flow resumes from the database. When no flow is
//! left, the actor tells its task manager, which drops it.

use crate::compute::messages::ComputeHandle;
use crate::db::models::flow::{self, Flow};
use crate::flows::TargetId;
use crate::flows::{self, FlowCtx, StepOutcome};
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use crate::testing::Fault;
use actix::prelude::*;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tracing::Instrument;

/// Runs the current step of the instance's oldest running flow.
#[derive(Message)]
#[rtype(result = "()")]
struct RunStep;

/// Sent to the task manager when the instance has no flow left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlowsDrained {
    pub target: TargetId,
}

/// What one pass of the runner found.
enum Tick {
    /// No running flow of ours is left.
    Idle,
    /// Run again now (a step advanced, or a flow ended and the next may start), on the flow
    /// the write that ended the step left or read in the same trip to the database, if any.
    Again(Option<Box<Flow>>),
    /// Run again after this pause.
    After(Duration),
    /// The step failed; the supervisor restarts this actor.
    Failed(String),
}

pub struct FlowActor {
    /// The instance or backup whose flows this actor runs.
    target: TargetId,
    services: Services,
    compute: ComputeHandle,
    manager: Recipient<FlowsDrained>,
    /// Consecutive failures, for the back-off after a restart.
    failures: u32,
    /// True until the first step after a (re)start has run.
    resumed: bool,
    /// Set when a failure stops the actor, which its supervisor then restarts.
    restart_pending: bool,
    /// The flow to run next, as the last step's outcome left it or as read right after that
    /// write (a pass that finds none here reads it).
    next: Option<Box<Flow>>,
}

impl FlowActor {
    pub fn new(target: TargetId, services: Services, compute: ComputeHandle, manager: Recipient<FlowsDrained>) -> Self {
        FlowActor {
            target,
            services,
            compute,
            manager,
            failures: 0,
            resumed: true,
            restart_pending: false,
            next: None,
        }
    }
}

impl Actor for FlowActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Its task manager (one per node) starts it, and drops it once its flows are done.
        self.services.supervision.started(
            self.target.actor_kind(),
            self.target.as_str(),
            Parent::actor("task_manager", &self.services.node_id),
        );
        self.resumed = true;
        self.next = None;
        let delay = crate::bus::retry::backoff(self.services.config.taskmanager.retry_backoff_ms, self.failures);
        ctx.notify_later(RunStep, delay);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if !self.restart_pending {
            self.services.wakeups.forget(self.target.as_str());
        }
        let (reason, again) = if self.restart_pending {
            ("failed", true)
        } else {
            ("no flow left", false)
        };
        self.services
            .supervision
            .stopped(self.target.actor_kind(), self.target.as_str(), reason, again);
    }
}

impl Supervised for FlowActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restart_pending = false;
        self.services.supervision.restarting(
            self.target.actor_kind(),
            self.target.as_str(),
            &format!("failure {} in a row", self.failures),
        );
    }
}

impl Handler<RunStep> for FlowActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: RunStep, _ctx: &mut Context<Self>) -> Self::Result {
        let pass = run_once(
            self.services.clone(),
            self.compute.clone(),
            self.target.to_string(),
            self.resumed,
            self.next.take(),
        );
        self.resumed = false;
        let guarded = AssertUnwindSafe(pass).catch_unwind().map(|result| match result {
            Ok(tick) => tick,
            Err(panic) => Tick::Failed(format!("panic: {}", panic_message(&panic))),
        });
        Box::pin(guarded.into_actor(self).map(|tick, act, ctx| match tick {
            Tick::Idle => act.manager.do_send(FlowsDrained {
                target: act.target.clone(),
            }),
            Tick::Again(next) => {
                act.failures = 0;
                act.next = next;
                ctx.notify(RunStep);
            }
            Tick::After(pause) => {
                act.failures = 0;
                let woken = act.services.wakeups.listen(act.target.as_str());
                let wait = async move {
                    let _ = tokio::time::timeout(pause, woken.notified()).await;
                };
                ctx.spawn(wait.into_actor(act).map(|(), _, ctx| ctx.notify(RunStep)));
            }
            Tick::Failed(reason) => {
                act.failures += 1;
                act.restart_pending = true;
                act.services
                    .supervision
                    .failed(act.target.actor_kind(), act.target.as_str(), &reason);
                ctx.stop();
            }
        }))
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// One pass: load the flow (unless the last pass read it after its write), check its deadline,
/// inject a test fault if asked, run the step, record the result.
async fn run_once(
    services: Services,
    compute: ComputeHandle,
    instance_id: String,
    resumed: bool,
    read: Option<Box<Flow>>,
) -> Tick {
    let flow = match read {
        Some(flow) => *flow,
        None => {
            let node = services.node_id.clone();
            let target = instance_id.clone();
            match services.db.run(move |c| Flow::next_for_target(c, &target, &node)).await {
                Ok(Some(flow)) => flow,
                Ok(None) => return Tick::Idle,
                Err(e) => return Tick::Failed(format!("loading flow: {e}")),
            }
        }
    };
    let ctx = FlowCtx {
        services: services.clone(),
        compute,
        flow: flow.clone(),
        resumed,
    };
    if crate::db::now_ms() > flow.deadline {
        return Box::pin(finish_past_deadline(ctx)).await;
    }
    match services
        .faults
        .take(&flow.kind, &flow.id, flow.step, &[Fault::Panic, Fault::Error])
    {
        Some(Fault::Panic) => panic!("injected panic in {} step {}", flow.kind, flow.step),
        Some(_) => return record_failure(&services, &flow, "injected error".into()).await,
        None => {}
    }
    // The step runs as part of the request that recorded the flow: its log lines and the
    // messages it sends carry that request's id.
    let span = tracing::info_span!(
        "flow_step",
        flow.id = %flow.id,
        flow.kind = %flow.kind,
        step = flows::step_name(&flow.kind, flow.step),
        request_id = flow.request_id.as_deref().unwrap_or("")
    );
    let request = flow.request_id.clone();
    let step = async {
        tracing::debug!("running the step");
        let outcome = match flows::run_step(ctx).await {
            Ok(outcome) => outcome,
            Err(e) => return record_failure(&services, &flow, e.to_string()).await,
        };
        if services
            .faults
            .take(&flow.kind, &flow.id, flow.step, &[Fault::Kill])
            .is_some()
        {
            tracing::error!(flow.id = %flow.id, flow.kind = %flow.kind, step = flow.step, "injected SIGKILL before the step's outcome is recorded");
            // SAFETY: kill(2) on this very process; nothing runs after it.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        apply_outcome(&services, &flow, outcome).await
    };
    // Boxed, as the deadline's path above: the pass itself stays small (under 2 KiB; 24 KiB
    // with both inline), whichever step it runs.
    crate::telemetry::request::scope(request, Box::pin(step.instrument(span))).await
}

/// How a step's outcome moves its flow's row.
enum Move {
    Advance(String),
    Finish(&'static str, Option<String>),
}

async fn apply_outcome(services: &Services, flow: &Flow, outcome: StepOutcome) -> Tick {
    let (kind, target, step_name) = (&flow.kind, &flow.target_id, flows::step_name(&flow.kind, flow.step));
    let (to, record) = match outcome {
        StepOutcome::Wait(pause) => return Tick::After(pause),
        StepOutcome::Next(state) => (Move::Advance(state), None),
        StepOutcome::NextRecording(state, record) => (Move::Advance(state), Some(record)),
        StepOutcome::Done => (Move::Finish(flow::DONE, None), None),
        StepOutcome::DoneRecording(record) => (Move::Finish(flow::DONE, None), Some(record)),
        StepOutcome::Fail(reason) => (Move::Finish(flow::FAILED, Some(reason)), None),
    };
    match &to {
        Move::Advance(_) => tracing::info!(
            instance.id = %target, flow.id = %flow.id, flow.kind = %kind, flow.step = step_name,
            "{kind} {target}: step {step_name} done"
        ),
        Move::Finish(_, None) => {
            tracing::info!(instance.id = %target, flow.id = %flow.id, flow.kind = %kind, "{kind} {target} finished")
        }
        Move::Finish(_, Some(reason)) => tracing::warn!(
            instance.id = %target, flow.id = %flow.id, flow.kind = %kind, reason = %reason,
            "{kind} {target} failed: {reason}"
        ),
    }
    // Advanced, the same flow runs on (none older can be ours now: flows run oldest first).
    let advanced = match &to {
        Move::Advance(state) => Some(flow.advanced(state.clone())),
        Move::Finish(..) => None,
    };
    let (node, id, step) = (services.node_id.clone(), flow.id.clone(), flow.step);
    let (owner, target) = (node.clone(), flow.target_id.clone());
    let write = move |c: &mut crate::db::DbConn| match &to {
        Move::Advance(state) => Flow::advance(c, &id, &owner, step, step + 1, state),
        Move::Finish(status, error) => Flow::finish(c, &id, &owner, status, error.as_deref()),
    };
    let written = services
        .db
        .run(move |c| {
            // The step's record and the step reached: one transaction.
            let moved = match record {
                Some(record) => crate::db::write_tx(c, |c| {
                    record(c)?;
                    write(c)
                })?,
                None => write(c)?,
            };
            match advanced.filter(|_| moved) {
                Some(flow) => Ok(Some(flow)),
                None => Flow::next_for_target(c, &target, &node),
            }
        })
        .await;
    // Moved on by us, or the row moved on without us (cancelled, taken over): either way the
    // target's next flow of ours, read after the write if it is not this one, runs next.
    match written {
        Ok(Some(next)) => Tick::Again(Some(Box::new(next))),
        Ok(None) => Tick::Idle,
        // Counted as the step's failed attempt, as an error of the step itself would be.
        Err(e) => record_failure(services, flow, format!("recording its outcome: {e}")).await,
    }
}

async fn record_failure(services: &Services, flow: &Flow, error: String) -> Tick {
    let id = flow.id.clone();
    let message = error.clone();
    if let Err(e) = services.db.run(move |c| Flow::record_failure(c, &id, &message)).await {
        tracing::warn!(flow.id = %flow.id, "cannot record failure: {e}");
    }
    Tick::Failed(format!(
        "{} step {}: {error}",
        flow.kind,
        flows::step_name(&flow.kind, flow.step)
    ))
}

async fn finish_past_deadline(ctx: FlowCtx) -> Tick {
    let flow = ctx.flow.clone();
    let services = ctx.services.clone();
    tracing::warn!(instance.id = %flow.target_id, flow.id = %flow.id, flow.kind = %flow.kind, "{} {} passed its deadline", flow.kind, flow.target_id);
    if let Err(e) = flows::on_deadline(ctx).await {
        return record_failure(&services, &flow, format!("deadline handling: {e}")).await;
    }
    let node = services.node_id.clone();
    let id = flow.id.clone();
    match services
        .db
        .run(move |c| Flow::finish(c, &id, &node, flow::FAILED, Some("deadline passed")))
        .await
    {
        Ok(_) => Tick::Again(None),
        Err(e) => Tick::Failed(format!("recording deadline: {e}")),
    }
}
