//! A pool of simulated guests (`coffer guest --simulated N`): consumes `guestpool`, competing with
//! other pools, and hosts up to N guest sessions of simulated instances that a task manager
//! hands it (`host_guest`, with the instance's key sealed under the master key). A guest that
//! a task manager no longer wants (`guest_wanted`: its instance was deleted meanwhile) or that
//! already has a consumer (hosted by another pool) is not hosted; a full pool hands the
//! request back after a pause, for another pool. Its sessions talk only over the bus; a session
//! whose server is destroyed (`destroy`) is let go.

use super::guest_session::{Ending, GuestEnv, GuestSession};
use crate::bus::signing::GuestKey;
use crate::bus::{self, Delivery, Envelope};
use crate::guest::messages::{encode, GuestWanted, HostGuest};
use crate::guest_link::GuestKeyError;
use crate::ids::InstanceId;
use crate::secrets::MasterKey;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "guest_pool";
/// How long a task manager may take to say whether a guest is still wanted.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// A hosted session ended for good.
#[derive(Message)]
#[rtype(result = "()")]
struct Released(InstanceId, Ending);

pub struct GuestPool {
    env: GuestEnv,
    /// What its sessions share: `env`, telling this pool when one ends (made at the first).
    sessions_env: Option<Arc<GuestEnv>>,
    master: Arc<MasterKey>,
    capacity: usize,
    name: String,
    guests: HashMap<InstanceId, Addr<GuestSession>>,
    /// Instances whose queue is being asked whether another guest serves it.
    checking: HashSet<InstanceId>,
    /// How many guests are hosted, for the service list and `/metrics`.
    hosted: Arc<AtomicI64>,
}

impl GuestPool {
    pub fn new(
        env: GuestEnv,
        master: Arc<MasterKey>,
        capacity: usize,
        name: String,
        hosted: Arc<AtomicI64>,
    ) -> GuestPool {
        GuestPool {
            env,
            sessions_env: None,
            master,
            capacity,
            name,
            guests: HashMap::new(),
            checking: HashSet::new(),
            hosted,
        }
    }

    fn count(&self) {
        self.hosted.store(self.guests.len() as i64, Ordering::Relaxed);
    }

    fn sessions_env(&mut self, ctx: &mut Context<Self>) -> Arc<GuestEnv> {
        let env = self.sessions_env.get_or_insert_with(|| {
            let pool = ctx.address();
            let mut env = self.env.clone();
            env.supervisor = Some((KIND, Arc::from(self.name.as_str())));
            env.on_destroyed = Some(Arc::new(move |id: &str, ending| {
                pool.do_send(Released(InstanceId::new(id), ending))
            }));
            Arc::new(env)
        });
        Arc::clone(env)
    }

    fn host(&mut self, request: HostGuest, ctx: &mut Context<Self>) -> Result<(), GuestKeyError> {
        let unreadable = |reason: String| GuestKeyError::Unreadable {
            instance_id: request.instance_id.to_string(),
            reason,
        };
        let text = self
            .master
            .open(&request.sealed_key)
            .map_err(|e| unreadable(e.to_string()))?;
        let key = Arc::new(GuestKey::from_base64(&text).map_err(|e| unreadable(e.to_string()))?);
        let prepare = self.env.config.compute.simulated_prepare_ms;
        let datastore = crate::compute::simulated::datastore_for(prepare, request.prepared);
        let env = self.sessions_env(ctx);
        let id = request.instance_id.clone();
        let session = Supervisor::start(move |_| GuestSession::new(id, env, key, datastore));
        tracing::info!(pool = %self.name, instance.id = %request.instance_id, "guest pool: hosting");
        self.guests.insert(request.instance_id, session);
        self.count();
        Ok(())
    }

    /// Hosts the guest unless one already consumes its queue (another pool's, after a task
    /// manager asked again at a restart or a takeover).
    fn host_unless_served(&mut self, delivery: Delivery, request: HostGuest, ctx: &mut Context<Self>) {
        let id = request.instance_id.clone();
        self.checking.insert(id.clone());
        let (bus, topic) = (self.env.bus.clone(), bus::guest_topic(&id));
        let wanted = Envelope::new(
            "guest_wanted",
            encode(&GuestWanted {
                instance_id: id.clone(),
            }),
        );
        let asked = async move {
            // A request that waited in the queue through the instance's delete hosts nothing.
            let wanted = bus.call(bus::TASKMANAGER, wanted, ASK_TIMEOUT).await?;
            if wanted != serde_json::json!(true) {
                return Ok(None);
            }
            bus.consumers(&topic).await.map(Some)
        };
        ctx.spawn(asked.into_actor(self).map(move |consumers, act, ctx| {
            act.checking.remove(&id);
            let hosted = match consumers {
                Ok(Some(0)) => act.host(request, ctx),
                Ok(Some(_)) => {
                    tracing::info!(pool = %act.name, instance.id = %id, "guest pool: already served elsewhere");
                    Ok(())
                }
                Ok(None) => {
                    tracing::info!(pool = %act.name, instance.id = %id, "guest pool: the instance is gone; not hosted");
                    // Its queue, made for the request, goes too.
                    act.env.bus.delete_topic(&bus::guest_topic(&id));
                    Ok(())
                }
                // Not acknowledged: handed back after a pause, to be asked again.
                Err(e) => {
                    crate::telemetry::warn_limited("guest pool", &format!("guest pool: cannot host {id} now: {e}"));
                    ctx.run_later(Duration::from_secs(1), move |_, _| drop(delivery));
                    return;
                }
            };
            if let Err(e) = &hosted {
                tracing::warn!(pool = %act.name, instance.id = %id, "guest pool: host_guest refused: {e}");
            }
            delivery.reply(hosted.map(|()| serde_json::json!(null)).map_err(|e| e.to_string()));
        }));
    }
}

impl Actor for GuestPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.env.supervision.started(KIND, &self.name, Parent::ROOT);
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
        let request = match delivery.envelope.args::<HostGuest>() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(pool = %self.name, "guest pool: {e}");
                return delivery.reply(Err(e));
            }
        };
        if self.guests.contains_key(&request.instance_id) {
            return delivery.ack();
        }
        if self.checking.contains(&request.instance_id) {
            // The same request again while it is being checked: the broker gave it back (the
            // connection that brought it first was lost). The check in flight may still fail,
            // and its delivery, on the lost channel, can hand nothing back: this copy is the
            // request now. Handed back after a pause, it is hosted, or acknowledged as hosted,
            // once the check ends.
            ctx.run_later(Duration::from_secs(1), move |_, _| drop(delivery));
            return;
        }
        if self.master.open(&request.sealed_key).is_err() {
            // Not this deployment's key (a key file not copied here): handed back after a
            // pause, for a pool that has the right one; the request is not lost.
            let said = format!(
                "guest pool {}: cannot open guest keys: this pool's master key is not the deployment's",
                self.name
            );
            crate::telemetry::warn_limited("guest pool key", &said);
            ctx.run_later(Duration::from_secs(1), move |_, _| drop(delivery));
            return;
        }
        if self.guests.len() + self.checking.len() >= self.capacity {
            // Handed back (unacknowledged) after a pause, for a pool with room.
            let full = format!(
                "guest pool {}: full ({} guests); handed back for another pool",
                self.name, self.capacity
            );
            crate::telemetry::warn_limited("guest pool full", &full);
            ctx.run_later(Duration::from_secs(1), move |_, _| drop(delivery));
            return;
        }
        self.host_unless_served(delivery, request, ctx);
    }
}

impl Handler<Released> for GuestPool {
    type Result = ();

    fn handle(&mut self, msg: Released, _ctx: &mut Context<Self>) {
        let Released(id, ending) = msg;
        tracing::info!(pool = %self.name, instance.id = %id, ?ending, "guest pool: guest let go");
        self.guests.remove(&id);
        self.count();
        // A destroyed server's queue goes with it; a queue served elsewhere is not ours.
        if ending == Ending::Destroyed {
            self.env.bus.delete_topic(&bus::guest_topic(&id));
        }
    }
}
