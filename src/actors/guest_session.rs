//! The guest agent of one instance: consumes `guestagent.<instance id>`, runs each request on
//! its datastore driver, and casts a heartbeat to the conductor every interval once prepared.
//!
//! Methods: `prepare` (cast), `restart`, `stop_db`, `get_filesystem_stats`, `rpc_ping` (calls).
//! An unknown method or malformed arguments are answered with an error, never a crash.

use super::Services;
use crate::bus::{self, Delivery, Envelope};
use crate::guest::{protocol, Datastore, GuestError, PrepareRequest};
use crate::status::ServiceStatus;
use actix::prelude::*;
use futures::FutureExt;
use serde_json::json;

const KIND: &str = "guest_session";

/// Stops the datastore server for good and removes its volume (the server is being deleted).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Destroy;

pub struct GuestSession {
    instance_id: String,
    services: Services,
    datastore: Box<dyn Datastore>,
}

impl GuestSession {
    pub fn new(instance_id: String, services: Services, datastore: Box<dyn Datastore>) -> GuestSession {
        GuestSession {
            instance_id,
            services,
            datastore,
        }
    }

    /// Casts the datastore's current status to the conductor (Trove's `set_status`).
    fn heartbeat(&mut self, ctx: &mut Context<Self>, forced: Option<ServiceStatus>) {
        if forced.is_none() && !self.datastore.is_prepared() {
            return; // Trove suppresses periodic heartbeats until prepare has ended.
        }
        let status = self.datastore.status();
        let bus = self.services.bus.clone();
        let instance_id = self.instance_id.clone();
        ctx.spawn(
            async move {
                let status = match forced {
                    Some(s) => s,
                    None => status.await,
                };
                let sent = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                let args = json!({
                    "instance_id": instance_id,
                    "payload": {"service_status": status.description()},
                    "sent": sent,
                });
                if let Err(e) = bus.cast(bus::CONDUCTOR, Envelope::new("heartbeat", args)).await {
                    tracing::warn!(instance.id = %instance_id, error = %e, "heartbeat not sent: {e}");
                }
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
        let bus = self.services.bus.clone();
        let instance_id = self.instance_id.clone();
        ctx.spawn(
            async move {
                let Some(message) = check.await else { return };
                tracing::warn!(instance.id = %instance_id, "{message}");
                let sent = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                let args = json!({"instance_id": instance_id, "message": message, "sent": sent});
                if let Err(e) = bus.cast(bus::CONDUCTOR, Envelope::new("report_fault", args)).await {
                    tracing::warn!(instance.id = %instance_id, "fault not reported: {e}");
                }
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
        delivery.ack();
        let prepared = self.datastore.prepare(request);
        ctx.spawn(prepared.into_actor(self).map(|result, act, ctx| match result {
            Ok(()) => act.heartbeat(ctx, None),
            Err(e) => {
                tracing::warn!(instance.id = %act.instance_id, error = %e, "prepare failed: {e}");
                act.heartbeat(ctx, Some(ServiceStatus::Failed));
            }
        }));
    }

    /// Runs a call's operation and replies with its result; `then_report` sends a heartbeat
    /// once it is done (the status changed).
    fn reply_with<F>(&mut self, delivery: Delivery, ctx: &mut Context<Self>, op: F, then_report: bool)
    where
        F: std::future::Future<Output = Result<serde_json::Value, GuestError>> + 'static,
    {
        ctx.spawn(op.into_actor(self).map(move |result, act, ctx| {
            delivery.reply(result.map_err(|e| protocol::encode_error(&e)));
            if then_report {
                act.heartbeat(ctx, None);
            }
        }));
    }
}

impl Actor for GuestSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services.supervision.started(KIND, &self.instance_id);
        ctx.add_stream(self.services.bus.subscribe(&bus::guest_topic(&self.instance_id)));
        let interval = crate::config::secs(self.services.config.guest.heartbeat_interval_s);
        ctx.run_interval(interval, |act, ctx| {
            act.heartbeat(ctx, None);
            act.enforce_volume(ctx);
        });
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
        self.services
            .supervision
            .stopped(KIND, &self.instance_id, "server deleted", false);
    }
}

impl Supervised for GuestSession {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .restarting(KIND, &self.instance_id, "guest session stopped");
    }
}

impl Handler<Destroy> for GuestSession {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _: Destroy, _ctx: &mut Context<Self>) -> Self::Result {
        let destroy = self.datastore.destroy();
        Box::pin(async move { destroy.await.map_err(|e| e.to_string()) })
    }
}

impl StreamHandler<Delivery> for GuestSession {
    fn handle(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let method = delivery.envelope.method.clone();
        match method.as_str() {
            "prepare" => self.handle_prepare(delivery, ctx),
            "rpc_ping" => delivery.reply(Ok(json!(true))),
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
        // The topic was deleted: this server is gone.
        ctx.stop();
    }
}
