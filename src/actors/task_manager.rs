//! The task manager: consumes `taskmanager`, claims flows and owns one supervised
//! [`FlowActor`] per instance and per backup with work in flight.
//!
//! A cast only wakes it up: the flow row written by the API is the work. At start, and every
//! `scan_interval_s`, it claims every running flow that is unowned, ours (after a restart), or
//! whose owner's lease expired, which also renews its own leases — so a lost cast delays work
//! and never loses it.

use super::flow_actor::{FlowActor, FlowsDrained};
use super::Resume;
use crate::bus::{self, Delivery};
use crate::compute::messages::ComputeHandle;
use crate::db::models::flow::Flow;
use crate::db::models::instance::Instance;
use crate::flows::{FlowKind, TargetId, WakeUp};
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;
use std::collections::{HashMap, HashSet};

const KIND: &str = "task_manager";

pub struct TaskManager {
    services: Services,
    compute: ComputeHandle,
    children: HashMap<TargetId, Addr<FlowActor>>,
    /// Targets whose actor was running when a claim found flows for them: such an actor may
    /// have looked for its next flow before the claimed one was written, so when it drains the
    /// target is claimed again. An actor that drains unpoked ends its target's work here.
    poked: HashSet<TargetId>,
}

/// Claims and runs every flow this node may own now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Scan;

/// Number of instance actors alive (for tests and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountChildren;

impl TaskManager {
    pub fn new(services: Services, compute: ComputeHandle) -> TaskManager {
        TaskManager {
            services,
            compute,
            children: HashMap::new(),
            poked: HashSet::new(),
        }
    }

    fn lease_ms(&self) -> i64 {
        self.services.config.taskmanager.lease_s.as_millis() as i64
    }

    /// Starts the target's actor unless it runs already (then it is poked: see `poked`).
    fn ensure_child(&mut self, target: TargetId, ctx: &mut Context<Self>) {
        if self.children.contains_key(&target) {
            self.poked.insert(target);
            return;
        }
        let (services, compute) = (self.services.clone(), self.compute.clone());
        let manager = ctx.address().recipient();
        let id = target.clone();
        let addr = Supervisor::start(move |_| FlowActor::new(id, services, compute, manager));
        self.children.insert(target, addr);
    }

    /// Claims the target's flows and runs them here if they are now ours.
    fn claim_and_run(&mut self, target: TargetId, delivery: Option<Delivery>, ctx: &mut Context<Self>) {
        let (db, node, lease) = (self.services.db.clone(), self.services.node_id.clone(), self.lease_ms());
        let id = target.to_string();
        // Claimed apart from this actor, which every create's cast reaches (see `super::Resume`).
        let me = ctx.address();
        actix::spawn(async move {
            let claimed = db.run(move |c| Flow::claim_target(c, &id, &node, lease)).await;
            me.do_send(Resume::new(move |act: &mut TaskManager, ctx| {
                act.claimed(target, delivery, claimed, ctx)
            }));
        });
    }

    /// Runs the target's flows here if the claim made them ours; acknowledges the cast that asked.
    fn claimed(
        &mut self,
        target: TargetId,
        delivery: Option<Delivery>,
        claimed: Result<bool, crate::db::DbError>,
        ctx: &mut Context<Self>,
    ) {
        match claimed {
            Ok(true) => self.ensure_child(target, ctx),
            Ok(false) => {}
            Err(e) => {
                // Not acknowledged: the message comes back, and the scan finds the flow anyway.
                tracing::warn!(target.id = %target, "cannot claim flows: {e}");
                return;
            }
        }
        if let Some(d) = delivery {
            d.ack();
        }
    }
}

impl Actor for TaskManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id, Parent::ROOT);
        ctx.add_stream(self.services.bus.subscribe(bus::TASKMANAGER));
        ctx.notify(Scan);
        let every = self.services.config.taskmanager.scan_interval_s;
        ctx.run_interval(every, |_, ctx| ctx.notify(Scan));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .stopped(KIND, &self.services.node_id, "system stopping", false);
    }
}

impl Handler<Resume<TaskManager, ()>> for TaskManager {
    type Result = ();

    fn handle(&mut self, rest: Resume<TaskManager, ()>, ctx: &mut Context<Self>) {
        rest.run(self, ctx)
    }
}

impl Supervised for TaskManager {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .restarting(KIND, &self.services.node_id, "task manager stopped");
    }
}

impl Handler<Scan> for TaskManager {
    type Result = ();

    fn handle(&mut self, _: Scan, ctx: &mut Context<Self>) {
        let (db, node, lease) = (self.services.db.clone(), self.services.node_id.clone(), self.lease_ms());
        let claim = async move { db.run(move |c| Flow::claim_all(c, &node, lease)).await };
        ctx.spawn(claim.into_actor(self).map(|claimed, act, ctx| match claimed {
            Ok(claimed) => {
                let me = &act.services.node_id;
                for (previous, n) in &claimed.taken_over {
                    let reason = format!("{me} took over {n} flows of {previous} (its lease expired)");
                    act.services.supervision.note(KIND, me, "took_over", &reason);
                }
                for (target, flow_kind) in claimed.targets {
                    match FlowKind::parse(&flow_kind) {
                        Some(kind) => act.ensure_child(TargetId::of(kind, &target), ctx),
                        None => tracing::warn!(target.id = %target, "a flow of unknown kind {flow_kind}; not run"),
                    }
                }
            }
            Err(e) => crate::telemetry::warn_limited("flow scan", &format!("flow scan failed: {e}")),
        }));
    }
}

impl TaskManager {
    /// `guest_wanted`: whether the instance still wants a guest (a pool asks before it hosts
    /// one, so that a `host_guest` that waited out a delete hosts nothing).
    fn answer_guest_wanted(&mut self, delivery: Delivery) {
        let id = match delivery.envelope.args::<crate::guest::messages::GuestWanted>() {
            Ok(asked) => asked.instance_id,
            Err(e) => return delivery.reply(Err(e)),
        };
        let db = self.services.db.clone();
        let asked = async move {
            db.run(move |c| Instance::find(c, &id))
                .await
                .map(|found| found.is_some_and(|i| i.task() != Some(crate::status::Task::Deleting)))
        };
        // A task of its own, as every create hosted in a pool asks (see `super::Resume`).
        actix::spawn(async move {
            match asked.await {
                Ok(wanted) => delivery.reply(Ok(serde_json::json!(wanted))),
                Err(e) => delivery.reply(Err(format!("cannot tell now: {e}"))),
            }
        });
    }
}

impl StreamHandler<Delivery> for TaskManager {
    fn handle(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let method = delivery.envelope.method.clone();
        if method == "guest_wanted" {
            return self.answer_guest_wanted(delivery);
        }
        let Some(kind) = FlowKind::from_method(&method) else {
            tracing::warn!(method = %method, "task manager: unknown method {method}");
            delivery.reply(Err(format!("unknown method {method}")));
            return;
        };
        let target = delivery.envelope.args::<WakeUp>().map(|w| w.target(kind));
        match target {
            Ok(Some(target)) => self.claim_and_run(target, Some(delivery), ctx),
            Ok(None) | Err(_) => {
                let key = kind.target().key();
                tracing::warn!(method = %method, "task manager: {method} without {key}");
                delivery.reply(Err(format!("malformed message: {key} missing")));
            }
        }
    }
}

impl Handler<FlowsDrained> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: FlowsDrained, ctx: &mut Context<Self>) {
        // Dropping the address ends the idle actor; a flow claimed while it ran is picked up.
        self.children.remove(&msg.target);
        if self.poked.remove(&msg.target) {
            self.claim_and_run(msg.target, None, ctx);
        }
    }
}

impl Handler<CountChildren> for TaskManager {
    type Result = usize;

    fn handle(&mut self, _: CountChildren, _ctx: &mut Context<Self>) -> usize {
        self.children.len()
    }
}
