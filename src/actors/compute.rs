//! The compute service: creates and deletes servers and owns their guest sessions.
//!
//! Creating a server is idempotent per instance id (asking twice returns the same server), so a
//! create flow that resumes after a crash never makes a second one. At start, compute re-adopts
//! the servers the database says exist, which gives exactly one guest session per instance.

use super::guest_session::GuestSession;
use super::Services;
use crate::bus;
use crate::compute::{simulated, ServerInfo};
use crate::db::models::instance::Instance;
use crate::status::Task;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

const KIND: &str = "compute";

/// Creates the server of an instance (or returns the one it has).
#[derive(Message)]
#[rtype(result = "Result<ServerInfo, String>")]
pub struct CreateServer {
    pub instance_id: String,
    pub manager: String,
}

/// Deletes an instance's server and its guest session; deleting a missing one is fine.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeleteServer {
    pub instance_id: String,
}

/// Whether the instance has a server (Nova's `servers.get`).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ServerExists {
    pub instance_id: String,
}

/// Starts guest sessions for servers that exist in the database (after a restart).
#[derive(Message)]
#[rtype(result = "Result<usize, String>")]
pub struct AdoptServers;

/// Number of servers (guest sessions) this compute runs.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountServers;

pub struct Compute {
    services: Services,
    guests: HashMap<String, Addr<GuestSession>>,
}

impl Compute {
    pub fn new(services: Services) -> Compute {
        Compute {
            services,
            guests: HashMap::new(),
        }
    }

    fn boot(
        &mut self,
        instance_id: &str,
        manager: &str,
        prepared: bool,
    ) -> Result<ServerInfo, String> {
        if !self.guests.contains_key(instance_id) {
            let prepare_time =
                Duration::from_millis(self.services.config.compute.simulated_prepare_ms);
            let datastore = simulated::datastore_for(manager, prepare_time, prepared)?;
            let services = self.services.clone();
            let id = instance_id.to_string();
            let addr = Supervisor::start(move |_| GuestSession::new(id, services, datastore));
            self.guests.insert(instance_id.to_string(), addr);
        }
        Ok(ServerInfo {
            compute_instance_id: format!("sim-{instance_id}"),
            address: None,
        })
    }
}

impl Actor for Compute {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.services
            .supervision
            .stopped(KIND, &self.services.node_id, "system stopping", false);
    }
}

impl Handler<CreateServer> for Compute {
    type Result = Result<ServerInfo, String>;

    fn handle(&mut self, msg: CreateServer, _ctx: &mut Context<Self>) -> Self::Result {
        self.boot(&msg.instance_id, &msg.manager, false)
    }
}

impl Handler<DeleteServer> for Compute {
    type Result = ();

    fn handle(&mut self, msg: DeleteServer, _ctx: &mut Context<Self>) {
        // Dropping our address first lets the session end for good when its queue closes.
        self.guests.remove(&msg.instance_id);
        self.services
            .bus
            .delete_topic(&bus::guest_topic(&msg.instance_id));
    }
}

impl Handler<ServerExists> for Compute {
    type Result = bool;

    fn handle(&mut self, msg: ServerExists, _ctx: &mut Context<Self>) -> bool {
        self.guests.contains_key(&msg.instance_id)
    }
}

impl Handler<CountServers> for Compute {
    type Result = usize;

    fn handle(&mut self, _: CountServers, _ctx: &mut Context<Self>) -> usize {
        self.guests.len()
    }
}

impl Handler<AdoptServers> for Compute {
    type Result = ResponseActFuture<Self, Result<usize, String>>;

    fn handle(&mut self, _: AdoptServers, _ctx: &mut Context<Self>) -> Self::Result {
        let db = self.services.db.clone();
        let load = async move {
            db.run(|conn| {
                let servers = Instance::with_servers(conn)?;
                let mut out = Vec::with_capacity(servers.len());
                for inst in servers {
                    let version = crate::db::models::catalog::DatastoreVersion::find(
                        conn,
                        &inst.datastore_version_id,
                    )?;
                    let manager = version.map(|v| v.manager).unwrap_or_default();
                    out.push((
                        inst.id.clone(),
                        manager,
                        inst.task() != Some(Task::Building),
                    ));
                }
                Ok(out)
            })
            .await
            .map_err(|e| e.to_string())
        };
        Box::pin(load.into_actor(self).map(|servers, act, _ctx| {
            let servers = servers?;
            let count = servers.len();
            for (id, manager, prepared) in servers {
                if let Err(e) = act.boot(&id, &manager, prepared) {
                    tracing::warn!(instance.id = %id, "cannot re-adopt server: {e}");
                }
            }
            tracing::info!(
                servers.adopted = count,
                "compute re-adopted {count} servers"
            );
            Ok(count)
        }))
    }
}
