//! The compute service: creates and deletes servers and owns their guest sessions.
//!
//! Creating a server is idempotent per instance id (asking twice returns the same server), so a
//! create flow that resumes after a crash never makes a second one. At start, compute re-adopts
//! the servers the database says exist, which gives exactly one guest session per instance; a
//! re-adopted real server that is not running (a host reboot) is started again.

use super::guest_session::{Destroy, GuestEnv, GuestSession};
use super::Resume;
use crate::bus;
use crate::bus::signing::GuestKey;
use crate::compute::error::ComputeError;
use crate::compute::guest_process::{self, GuestSpec};
use crate::compute::messages::{ComputeHandle, CreateServer, DeleteServer, ServerExists};
use crate::compute::process::{self, AddressPool};
use crate::compute::{ServerError, ServerInfo};
use crate::db::models::catalog::DatastoreVersion;
use crate::db::models::instance::Instance;
use crate::ids::InstanceId;
use crate::manager::Manager;
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

mod remote_guests;
use remote_guests::destroy_remote;
pub(crate) use remote_guests::host_in_pool;

const KIND: &str = "compute";

/// Starts guest sessions for servers that exist in the database (after a restart).
#[derive(Message)]
#[rtype(result = "Result<usize, ComputeError>")]
pub struct AdoptServers;

struct Guest {
    /// The session, when it runs in this process.
    addr: Option<Addr<GuestSession>>,
    address: Option<Ipv4Addr>,
}

pub struct Compute {
    services: Services,
    guests: HashMap<InstanceId, Guest>,
    /// What the guest sessions in this process share.
    guest_env: Arc<GuestEnv>,
}

impl Compute {
    pub fn new(services: Services) -> Compute {
        Compute {
            guest_env: Arc::new(GuestEnv::of_node(&services)),
            services,
            guests: HashMap::new(),
        }
    }

    /// True when guests run outside this process (`[compute] guest_host = "process"`).
    fn remote(&self) -> bool {
        self.services.config.compute.guest_host == crate::config::GuestHost::Process
    }

    fn volume(&self, instance_id: &str) -> PathBuf {
        self.services.config.instances_dir().join(instance_id)
    }

    /// Starts the guest of a server (once): a session here, or its own guest process; a
    /// simulated guest of a pool was handed to the pool before.
    fn boot(
        &mut self,
        instance_id: &InstanceId,
        manager: Manager,
        address: Option<Ipv4Addr>,
        prepared: bool,
        recorded_replica: bool,
        key: Arc<GuestKey>,
    ) -> Result<ServerInfo, ComputeError> {
        if !self.guests.contains_key(instance_id) {
            let config = &self.services.config;
            let addr = match (self.remote(), manager) {
                (true, Manager::Simulated) => None,
                (true, _) => {
                    let spec = GuestSpec {
                        instance_id: instance_id.to_string(),
                        manager,
                        address: address.map(|a| a.to_string()),
                        recorded_replica,
                    };
                    guest_process::start(config, &self.volume(instance_id), &spec, &key)?;
                    None
                }
                (false, _) => {
                    let mut datastore =
                        crate::compute::datastore_for(config, instance_id, manager, address, prepared, &key)?;
                    if recorded_replica {
                        datastore.expect_replica();
                    }
                    let (env, id) = (Arc::clone(&self.guest_env), instance_id.clone());
                    Some(Supervisor::start(move |_| GuestSession::new(id, env, key, datastore)))
                }
            };
            self.guests.insert(instance_id.clone(), Guest { addr, address });
        }
        Ok(ServerInfo {
            compute_instance_id: format!("{manager}-{instance_id}"),
            address: address.map(|a| a.to_string()),
        })
    }

    /// Picks a free address for a new `manager` server.
    fn allocate(&self, manager: Manager, in_db: HashSet<Ipv4Addr>) -> Result<Ipv4Addr, ComputeError> {
        let port = manager
            .standard_port()
            .ok_or_else(|| ComputeError::Refused(format!("datastore {manager} has no server")))?;
        let pool = AddressPool::parse(&self.services.config.compute.address_pool)?;
        let mut in_use = in_db;
        in_use.extend(self.guests.values().filter_map(|g| g.address));
        pool.allocate(&in_use, port).ok_or_else(|| {
            ComputeError::Refused(format!(
                "no free address left in {}",
                self.services.config.compute.address_pool
            ))
        })
    }
}

/// The handle flows ask this compute through.
impl From<&Addr<Compute>> for ComputeHandle {
    fn from(compute: &Addr<Compute>) -> ComputeHandle {
        ComputeHandle {
            create: compute.clone().recipient(),
            delete: compute.clone().recipient(),
            exists: compute.clone().recipient(),
        }
    }
}

impl Actor for Compute {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id, Parent::ROOT);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .stopped(KIND, &self.services.node_id, "system stopping", false);
    }
}

impl Handler<CreateServer> for Compute {
    type Result = ResponseFuture<Result<ServerInfo, ServerError>>;

    fn handle(&mut self, msg: CreateServer, ctx: &mut Context<Self>) -> Self::Result {
        // The waiting runs as a task of its own; only the boot comes back to this actor.
        let me = ctx.address();
        let span = crate::telemetry::request::message_span(KIND, "create_server", msg.request_id.as_deref());
        let _entered = span.enter();
        tracing::info!(instance.id = %msg.instance_id, datastore = %msg.manager, "provisioning the server");
        let recorded = match self.remote() {
            // A guest process started by a task manager that died before recording the address.
            true => guest_process::read_spec(&self.volume(&msg.instance_id)).and_then(|s| s.address),
            false => None,
        };
        let known = (msg.address.as_deref().or(recorded.as_deref())).and_then(|a| a.parse::<Ipv4Addr>().ok());
        let (services, id) = (self.services.clone(), msg.instance_id.clone());
        let to_pool = self.remote() && msg.manager.is_simulated() && !self.guests.contains_key(&id);
        let real = !msg.manager.is_simulated();
        let key = async move {
            if real {
                // The instance's own OS account, made here off the actor's thread (`useradd`
                // takes a while); booting the server then only looks it up.
                let account_of = id.clone();
                tokio::task::spawn_blocking(move || crate::guest::account::ensure(&account_of))
                    .await
                    .map_err(ServerError::unavailable)?
                    .map_err(ServerError::refused)?;
            }
            let key = services
                .guests
                .keys()
                .ensure(&services.db, &id)
                .await
                .map_err(ServerError::unavailable)?;
            if to_pool {
                host_in_pool(&services, &id, &key, false)
                    .await
                    .map_err(ServerError::unavailable)?;
            }
            Ok::<_, ServerError>(key)
        };
        if msg.manager.is_simulated() || known.is_some() || self.guests.contains_key(&msg.instance_id) {
            let span = span.clone();
            return Box::pin(async move {
                let key = key.await?;
                let boot = Resume::new(move |act: &mut Compute, _ctx| {
                    let address = known.or_else(|| act.guests.get(&msg.instance_id).and_then(|g| g.address));
                    span.in_scope(|| act.boot(&msg.instance_id, msg.manager, address, false, false, key))
                        .map_err(ServerError::refused)
                });
                me.send(boot).await.map_err(ServerError::unavailable)?
            });
        }
        let db = self.services.db.clone();
        let dir = self.services.config.instances_dir();
        let used = async move {
            let key = key.await?;
            process::ensure_instances_dir(&dir).map_err(ServerError::refused)?;
            let addresses = db
                .run(Instance::addresses_in_use)
                .await
                .map_err(ServerError::unavailable)?;
            let used = addresses
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect::<HashSet<Ipv4Addr>>();
            Ok::<_, ServerError>((used, key))
        };
        let span = span.clone();
        Box::pin(async move {
            let (used, key) = used.await?;
            let boot = Resume::new(move |act: &mut Compute, _ctx| {
                let address = act.allocate(msg.manager, used).map_err(ServerError::refused)?;
                span.in_scope(|| act.boot(&msg.instance_id, msg.manager, Some(address), false, false, key))
                    .map_err(ServerError::refused)
            });
            me.send(boot).await.map_err(ServerError::unavailable)?
        })
    }
}

impl<R: Send + 'static> Handler<Resume<Compute, R>> for Compute {
    type Result = MessageResult<Resume<Compute, R>>;

    fn handle(&mut self, rest: Resume<Compute, R>, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(rest.run(self, ctx))
    }
}

impl Handler<DeleteServer> for Compute {
    type Result = ResponseFuture<Result<(), ComputeError>>;

    fn handle(&mut self, msg: DeleteServer, _ctx: &mut Context<Self>) -> Self::Result {
        // Dropping our address lets the session end for good once its queue closes.
        let guest = self.guests.remove(&msg.instance_id);
        let bus = self.services.bus.clone();
        let dir = self.volume(&msg.instance_id);
        let remote = self.remote().then(|| (self.services.clone(), dir.clone()));
        // A task of its own: nothing of the delete waits in this shared actor (see `Resume`).
        Box::pin(async move {
            if let Some((services, volume)) = remote {
                destroy_remote(&services, &msg.instance_id, &volume).await?;
            } else if let Some(addr) = guest.and_then(|g| g.addr) {
                match addr.send(Destroy).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(instance.id = %msg.instance_id, "destroying the server: {e}"),
                    Err(e) => tracing::warn!(instance.id = %msg.instance_id, "guest session gone: {e}"),
                }
            }
            bus.remove_topic(&bus::guest_topic(&msg.instance_id))
                .await
                .map_err(ComputeError::bus("removing the guest's queue"))?;
            // Whatever still runs in the volume (a server whose guest never came back after
            // a crash, a tool of an interrupted prepare) goes first.
            crate::guest::server::remove_volume(&dir).await?;
            Ok(crate::guest::account::remove(&msg.instance_id).await?)
        })
    }
}

impl Handler<ServerExists> for Compute {
    type Result = bool;

    fn handle(&mut self, msg: ServerExists, _ctx: &mut Context<Self>) -> bool {
        self.guests.contains_key(&msg.instance_id)
            || (self.remote() && guest_process::read_spec(&self.volume(&msg.instance_id)).is_some())
    }
}

impl Handler<AdoptServers> for Compute {
    type Result = ResponseActFuture<Self, Result<usize, ComputeError>>;

    fn handle(&mut self, _: AdoptServers, _ctx: &mut Context<Self>) -> Self::Result {
        let (db, keys) = (self.services.db.clone(), Arc::clone(self.services.guests.keys()));
        let (services, to_pool) = (self.services.clone(), self.remote());
        let load = async move {
            let servers = db
                .run(|conn| {
                    let servers = Instance::with_servers_prepared(conn)?;
                    let mut out = Vec::with_capacity(servers.len());
                    for (inst, prepared) in servers {
                        let version = DatastoreVersion::find(conn, &inst.datastore_version_id)?;
                        let Some(manager) = version.and_then(|v| Manager::parse(&v.manager)) else {
                            tracing::warn!(instance.id = %inst.id, "its datastore is not one coffer runs; not adopted");
                            continue;
                        };
                        let replica = inst.is_settled_replica();
                        out.push((inst.id.clone(), manager, inst.address.clone(), prepared, replica));
                    }
                    Ok(out)
                })
                .await?;
            let ids = servers.iter().map(|(id, ..)| id.clone()).collect();
            let all_keys = keys.ensure_all(&db, ids).await?;
            let mut keyed = Vec::with_capacity(servers.len());
            for ((id, manager, address, prepared, recorded_replica), key) in servers.into_iter().zip(all_keys) {
                if to_pool && manager.is_simulated() {
                    if let Err(e) = host_in_pool(&services, &id, &key, prepared).await {
                        tracing::warn!(instance.id = %id, "cannot re-host the guest: {e}");
                    }
                }
                keyed.push((id, manager, address, prepared, recorded_replica, key));
            }
            Ok::<_, ComputeError>(keyed)
        };
        Box::pin(load.into_actor(self).map(|servers, act, _ctx| {
            let servers = servers?;
            let count = servers.len();
            for (id, manager, address, prepared, recorded_replica, key) in servers {
                let address = address.and_then(|a| a.parse().ok());
                let instance = InstanceId::new(id.clone());
                if let Err(e) = act.boot(&instance, manager, address, prepared, recorded_replica, key) {
                    tracing::warn!(instance.id = %id, "cannot re-adopt server: {e}");
                }
            }
            // An event, so that the cluster sees when a node has taken up its servers.
            let node = act.services.node_id.clone();
            act.services
                .supervision
                .note(KIND, &node, "adopted", &format!("compute re-adopted {count} servers"));
            Ok(count)
        }))
    }
}
