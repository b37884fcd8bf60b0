//! A pool of simulated guests (`coffer guest --simulated N`): consumes `guestpool`, competing with
//! other pools, and hosts up to N guest sessions of simulated instances that a task manager
//! hands it (`host_guest`, with the instance's key sealed under the master key). Its sessions talk
//! only over the bus; a session whose server is destroyed (`destroy`) is let go.

use super::guest_session::{GuestEnv, GuestSession};
use crate::bus::signing::GuestKey;
use crate::bus::{self, Delivery};
use crate::secrets::MasterKey;
use actix::prelude::*;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "guest_pool";

/// `host_guest`'s arguments.
#[derive(Deserialize)]
struct HostGuest {
    instance_id: String,
    sealed_key: String,
    #[serde(default)]
    prepared: bool,
}

/// A hosted session destroyed its server.
#[derive(Message)]
#[rtype(result = "()")]
struct Released(String);

/// How many sessions a pool hosts now.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Hosted;

pub struct GuestPool {
    env: GuestEnv,
    master: Arc<MasterKey>,
    capacity: usize,
    name: String,
    guests: HashMap<String, Addr<GuestSession>>,
}

impl GuestPool {
    pub fn new(env: GuestEnv, master: Arc<MasterKey>, capacity: usize, name: String) -> GuestPool {
        GuestPool {
            env,
            master,
            capacity,
            name,
            guests: HashMap::new(),
        }
    }

    fn host(&mut self, request: HostGuest, ctx: &mut Context<Self>) -> Result<(), String> {
        if self.guests.contains_key(&request.instance_id) {
            return Ok(());
        }
        if self.guests.len() >= self.capacity {
            return Err(format!("the pool is full ({} guests)", self.capacity));
        }
        let text = self.master.open(&request.sealed_key).map_err(|e| e.to_string())?;
        let key = Arc::new(GuestKey::from_base64(&text)?);
        let prepare = Duration::from_millis(self.env.config.compute.simulated_prepare_ms);
        let datastore = crate::compute::simulated::datastore_for("simulated", prepare, request.prepared)?;
        let pool = ctx.address();
        let mut env = self.env.clone();
        env.on_destroyed = Some(Arc::new(move |id: &str| pool.do_send(Released(id.to_string()))));
        let id = request.instance_id.clone();
        let session = Supervisor::start(move |_| GuestSession::new(id, env, key, datastore));
        self.guests.insert(request.instance_id, session);
        Ok(())
    }
}

impl Actor for GuestPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.env.supervision.started(KIND, &self.name);
        ctx.add_stream(self.env.bus.subscribe(bus::GUEST_POOL));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.env.supervision.stopped(KIND, &self.name, "stopping", false);
    }
}

impl Supervised for GuestPool {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The hosted sessions are actors of their own and keep running.
        self.env
            .supervision
            .restarting(KIND, &self.name, "pool consumer stopped");
    }
}

impl StreamHandler<Delivery> for GuestPool {
    fn handle(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        if delivery.envelope.method != "host_guest" {
            let method = delivery.envelope.method.clone();
            tracing::warn!(pool = %self.name, method, "guest pool: unknown method {method}");
            delivery.reply(Err(format!("unknown method {method}")));
            return;
        }
        let hosted = delivery
            .envelope
            .args::<HostGuest>()
            .and_then(|request| self.host(request, ctx));
        if let Err(e) = &hosted {
            tracing::warn!(pool = %self.name, "guest pool: host_guest refused: {e}");
        }
        delivery.reply(hosted.map(|()| serde_json::json!(null)));
    }
}

impl Handler<Released> for GuestPool {
    type Result = ();

    fn handle(&mut self, msg: Released, _ctx: &mut Context<Self>) {
        self.guests.remove(&msg.0);
        self.env.bus.delete_topic(&bus::guest_topic(&msg.0));
    }
}

impl Handler<Hosted> for GuestPool {
    type Result = usize;

    fn handle(&mut self, _: Hosted, _ctx: &mut Context<Self>) -> usize {
        self.guests.len()
    }
}
