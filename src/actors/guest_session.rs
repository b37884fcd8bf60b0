//! The guest agent of one instance: consumes `guestagent.<instance id>`, runs each request on
//! its datastore driver, and casts a heartbeat to the conductor every interval once prepared.
//!
//! Methods: `prepare` and `create_backup` (casts), `restart`, `stop_db`, `get_filesystem_stats`,
//! `rpc_ping`, `destroy` (for a host in another process) and the account calls of [`protocol`]. A backup reports its progress and result to
//! the conductor (`update_backup`) for the attempt it was asked to run.
//! An unknown method or malformed arguments are answered with an error, never a crash.

mod backup;
mod replay;
mod to_conductor;

pub use to_conductor::ConductorLink;

use super::heartbeat_wheel::{HeartbeatWheel, Join};
use crate::bus::signing::{self, GuestKey, SignError};
use crate::bus::{self, Bus, Delivery};
use crate::config::Config;
use crate::guest::{protocol, Datastore, GuestError, PrepareRequest};
use crate::ids::InstanceId;
use crate::status::ServiceStatus;
use crate::storage::BackupStore;
use crate::telemetry::supervision::{Parent, SupervisionLog};
use actix::prelude::*;
use backup::RunningBackup;
use futures::FutureExt;
use replay::SeenRequests;
use serde_json::json;
use std::sync::Arc;
use to_conductor::sent_now;
use tracing::Instrument;

const KIND: &str = "guest_session";

/// Stops the datastore server for good and removes its volume (the server is being deleted).
#[derive(Message)]
#[rtype(result = "Result<(), GuestError>")]
pub struct Destroy;

/// The heartbeat interval came round ([`HeartbeatWheel`]): report the status, check the
/// volume, let go of the request ids past their TTL.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Beat;

/// Why a session ends for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It destroyed its server on request (`destroy`): its queue goes too.
    Destroyed,
    /// Its queue was deleted, or another host serves it now: it lets go (the queue is not its).
    LetGo,
}

/// Called with the instance id when a session ends for good.
pub type OnDestroyed = Arc<dyn Fn(&str, Ending) + Send + Sync>;

/// What a guest session needs of its host process (a coffer node, or `coffer guest`): it never
/// touches the database.
#[derive(Clone)]
pub struct GuestEnv {
    pub bus: Bus,
    pub config: Arc<Config>,
    pub supervision: Arc<SupervisionLog>,
    pub backup_store: BackupStore,
    /// Told when the session ends for good (see [`Ending`]): its host lets go of it.
    pub on_destroyed: Option<OnDestroyed>,
    /// Tells the sessions when to beat (one timer for all of them).
    pub wheel: Addr<HeartbeatWheel>,
    /// The actor its sessions are supervised under (kind, id): the node's compute, a guest
    /// pool, or (None) the guest process's system.
    pub supervisor: Option<(&'static str, Arc<str>)>,
}

impl GuestEnv {
    /// What the in-process guest sessions of this node share.
    pub fn of_node(services: &crate::services::Services) -> GuestEnv {
        GuestEnv {
            bus: services.bus.clone(),
            config: Arc::clone(&services.config),
            supervision: Arc::clone(&services.supervision),
            backup_store: services.backup_store.clone(),
            on_destroyed: None,
            wheel: HeartbeatWheel::start_for(&services.config, &services.node_id, &services.supervision),
            supervisor: Some(("compute", Arc::from(services.node_id.as_str()))),
        }
    }
}

pub struct GuestSession {
    instance_id: InstanceId,
    /// Shared by every session of its host.
    env: Arc<GuestEnv>,
    /// Signs what it sends, checks what it receives.
    key: Arc<GuestKey>,
    datastore: Box<dyn Datastore>,
    /// The backup attempt running here, if any (boxed: most sessions never run one, and every
    /// byte of a session is paid a hundred thousand times).
    backup: Option<Box<RunningBackup>>,
    /// The signed requests taken (no replays); those past the TTL are let go at each heartbeat.
    seen: SeenRequests,
    /// On the wheel already (it stays there across restarts).
    on_wheel: bool,
}

impl GuestSession {
    pub fn new(
        instance_id: InstanceId,
        env: Arc<GuestEnv>,
        key: Arc<GuestKey>,
        datastore: Box<dyn Datastore>,
    ) -> GuestSession {
        GuestSession {
            instance_id,
            env,
            key,
            datastore,
            backup: None,
            seen: SeenRequests::default(),
            on_wheel: false,
        }
    }

    /// Its channel to the conductor, made when something is sent (not kept: it would repeat
    /// the session's own id, key and bus in every session).
    fn conductor(&self) -> ConductorLink {
        ConductorLink {
            bus: self.env.bus.clone(),
            instance_id: self.instance_id.clone(),
            key: Arc::clone(&self.key),
            sign: self.env.config.bus.sign_guest_messages,
        }
    }

    fn forget_expired_requests(&mut self) {
        let ttl = self.env.config.guest.message_ttl_s.as_secs_f64();
        self.seen.forget_expired(sent_now(), ttl);
    }

    /// Casts the datastore's current status to the conductor (Trove's `set_status`).
    fn heartbeat(&mut self, ctx: &mut Context<Self>, forced: Option<ServiceStatus>) {
        if forced.is_none() && !self.datastore.is_prepared() {
            return; // Trove suppresses periodic heartbeats until prepare has ended.
        }
        let status = self.datastore.status();
        let link = self.conductor();
        ctx.spawn(
            async move {
                let status = match forced {
                    Some(s) => s,
                    None => status.await,
                };
                link.heartbeat(status.description()).await;
            }
            .into_actor(self),
        );
    }

    /// Turns the datastore read-only when its volume is full, and reports a fault.
    fn enforce_volume(&mut self, ctx: &mut Context<Self>) {
        if !self.datastore.is_prepared() {
            return;
        }
        let check = self.datastore.check_volume();
        let link = self.conductor();
        ctx.spawn(
            async move {
                let Some(message) = check.await else { return };
                tracing::warn!(instance.id = %link.instance_id, "{message}");
                link.report_fault(message).await;
            }
            .into_actor(self),
        );
    }

    fn handle_prepare(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let request: PrepareRequest = match delivery.envelope.args() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(instance.id = %self.instance_id, "{e}");
                delivery.reply(Err(e));
                return;
            }
        };
        // Acknowledged once done: a guest host that dies mid-prepare hands the request back,
        // and the guest hosted again in its place prepares (prepare is idempotent).
        tracing::info!(instance.id = %self.instance_id, "preparing the datastore");
        let span = tracing::Span::current();
        let prepared = self
            .datastore
            .prepare(request, self.env.backup_store.clone())
            .instrument(span.clone());
        ctx.spawn(prepared.into_actor(self).map(move |result, act, ctx| match result {
            Ok(()) => {
                delivery.ack();
                span.in_scope(|| tracing::info!(instance.id = %act.instance_id, "the datastore is prepared"));
                act.heartbeat(ctx, None)
            }
            Err(e) => {
                delivery.ack();
                tracing::warn!(instance.id = %act.instance_id, error = %e, "prepare failed: {e}");
                // The reason first, so the create that sees FAILED can tell why.
                let report = act.conductor().report_fault(e.to_string());
                ctx.spawn(report.into_actor(act).map(|(), act, ctx| {
                    act.heartbeat(ctx, Some(ServiceStatus::Failed));
                }));
            }
        }));
    }

    /// Checks a verified request's age and that it was not taken before (no replays).
    fn take_once(&mut self, envelope: &crate::bus::Envelope) -> Result<(), SignError> {
        let ttl = self.env.config.guest.message_ttl_s.as_secs_f64();
        self.seen.take_once(envelope, sent_now(), ttl)
    }

    /// Answers a call: a result signed under this instance's key (errors carry no secrets).
    fn answer(&self, delivery: Delivery, result: Result<serde_json::Value, String>) {
        let result = match result {
            Ok(value) if self.env.config.bus.sign_guest_messages => Ok(signing::sign_reply(
                value,
                &delivery.envelope,
                &self.instance_id,
                &self.key,
            )),
            other => other,
        };
        delivery.reply(result);
    }

    /// Runs a call's operation and replies with its result; `then_report` sends a heartbeat
    /// once it is done (the status changed).
    fn reply_with<F>(&mut self, delivery: Delivery, ctx: &mut Context<Self>, op: F, then_report: bool)
    where
        F: std::future::Future<Output = Result<serde_json::Value, GuestError>> + 'static,
    {
        let op = op.instrument(tracing::Span::current());
        ctx.spawn(op.into_actor(self).map(move |result, act, ctx| {
            act.answer(delivery, result.map_err(|e| protocol::encode_error(&e)));
            if then_report {
                act.heartbeat(ctx, None);
            }
        }));
    }
}

impl Actor for GuestSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let parent = match &self.env.supervisor {
            Some((kind, id)) => Parent::actor(kind, id),
            None => Parent::ROOT,
        };
        self.env.supervision.started(KIND, &self.instance_id, parent);
        ctx.add_stream(self.env.bus.subscribe(&bus::guest_topic(&self.instance_id)));
        if !self.on_wheel {
            self.env.wheel.do_send(Join(ctx.address().downgrade()));
            self.on_wheel = true;
        }
        if self.datastore.is_prepared() {
            // A re-adopted server: start it if it is down (a host reboot), then report at once
            // rather than an interval later.
            let start = self.datastore.start_if_down();
            ctx.spawn(start.into_actor(self).map(|result, act, ctx| {
                if let Err(e) = result {
                    tracing::warn!(instance.id = %act.instance_id, "starting the datastore again failed: {e}");
                }
                act.heartbeat(ctx, None);
            }));
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.env
            .supervision
            .stopped(KIND, &self.instance_id, "server deleted", false);
    }
}

impl Supervised for GuestSession {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.env
            .supervision
            .restarting(KIND, &self.instance_id, "guest session stopped");
    }
}

impl Handler<Destroy> for GuestSession {
    type Result = ResponseFuture<Result<(), GuestError>>;

    fn handle(&mut self, _: Destroy, _ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.datastore.destroy())
    }
}

impl Handler<Beat> for GuestSession {
    type Result = ();

    fn handle(&mut self, _: Beat, ctx: &mut Context<Self>) {
        self.heartbeat(ctx, None);
        self.enforce_volume(ctx);
        self.forget_expired_requests();
    }
}

impl StreamHandler<Delivery> for GuestSession {
    fn handle(&mut self, mut delivery: Delivery, ctx: &mut Context<Self>) {
        if delivery.redelivered && self.seen.contains(&delivery.envelope.context.request_id) {
            // Handed back by the broker after a reconnect, already taken here (a prepare still
            // running): nothing to do again.
            return delivery.ack();
        }
        if self.env.config.bus.sign_guest_messages {
            let checked = signing::verify(&mut delivery.envelope, &self.instance_id, &self.key)
                .and_then(|()| self.take_once(&delivery.envelope));
            if let Err(e) = checked {
                crate::telemetry::warn_limited(
                    "guest rejected",
                    &format!("guest {}: {} rejected: {e}", self.instance_id, delivery.envelope.method),
                );
                delivery.reply(Err(protocol::encode_error(&GuestError::Failed(format!(
                    "rejected: {e}"
                )))));
                return;
            }
        }
        let method = delivery.envelope.method.clone();
        // Handled as part of the API request the message serves: every line logged for it,
        // now or when its work finishes, carries that request's id.
        let span = crate::telemetry::request::message_span(
            KIND,
            &method,
            delivery.envelope.context.global_request_id.as_deref(),
        );
        let _entered = span.enter();
        match method.as_str() {
            "prepare" => self.handle_prepare(delivery, ctx),
            "create_backup" => self.handle_create_backup(delivery, ctx),
            "rpc_ping" => self.answer(delivery, Ok(json!(true))),
            "destroy" => {
                let destroy = self.datastore.destroy();
                ctx.spawn(destroy.into_actor(self).map(|result, act, _ctx| {
                    let destroyed = result.is_ok();
                    act.answer(
                        delivery,
                        result.map(|()| json!(null)).map_err(|e| protocol::encode_error(&e)),
                    );
                    if let Some(release) = act.env.on_destroyed.as_ref().filter(|_| destroyed) {
                        release(&act.instance_id, Ending::Destroyed);
                    }
                }));
            }
            "backup_running" => {
                let asked = delivery.envelope.args.get("backup_id").and_then(|v| v.as_str());
                let attempt = self
                    .backup
                    .as_ref()
                    .filter(|b| Some(b.backup_id.as_str()) == asked)
                    .map(|b| b.attempt);
                self.answer(delivery, Ok(json!(attempt)));
            }
            "guest_log_action" => match delivery.envelope.args::<crate::guest::logs::LogAction>() {
                Ok(action) => {
                    let op = self.datastore.log_action(action, self.env.backup_store.clone());
                    let op = op.map(|r| r.map(|log| json!(log)));
                    self.reply_with(delivery, ctx, op, false);
                }
                Err(e) => delivery.reply(Err(protocol::encode_error(&GuestError::Failed(e)))),
            },
            "restart" => {
                let op = self.datastore.restart().map(|r| r.map(|()| json!(null)));
                self.reply_with(delivery, ctx, op, true);
            }
            other => match protocol::call(self.datastore.as_mut(), other, &delivery.envelope.args) {
                Ok(op) => self.reply_with(delivery, ctx, op, false),
                Err(e) => {
                    tracing::warn!(instance.id = %self.instance_id, method = other, "guest: {e}");
                    delivery.reply(Err(protocol::encode_error(&e)));
                }
            },
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The topic was deleted (this server is gone) or another host serves it: the host lets
        // go of this session, so that its supervisor does not start it (and its queue) again.
        if let Some(release) = self.env.on_destroyed.as_ref() {
            release(&self.instance_id, Ending::LetGo);
        }
        ctx.stop();
    }
}
