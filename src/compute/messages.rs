//! What compute is asked (Nova's server calls): the messages and the [`ComputeHandle`] that
//! flows send them through, so that the domain knows compute's contract, not its actor.

use super::error::ComputeError;
use super::{ServerError, ServerInfo};
use crate::ids::InstanceId;
use crate::manager::Manager;
use actix::prelude::*;

/// Creates the server of an instance (or returns the one it has).
#[derive(Message)]
#[rtype(result = "Result<ServerInfo, ServerError>")]
pub struct CreateServer {
    pub instance_id: InstanceId,
    pub manager: Manager,
    /// The address recorded for the instance by an earlier attempt, if any.
    pub address: Option<String>,
    /// The API request the create serves, for the log.
    pub request_id: Option<String>,
}

/// Deletes an instance's server, its volume and its guest session; a missing one is fine. An
/// error: the volume could not be removed yet (asking again is safe).
#[derive(Message)]
#[rtype(result = "Result<(), ComputeError>")]
pub struct DeleteServer {
    pub instance_id: InstanceId,
}

/// Whether the instance has a server (Nova's `servers.get`).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ServerExists {
    pub instance_id: InstanceId,
}

/// Where compute's messages go: the compute actor of this process.
#[derive(Clone)]
pub struct ComputeHandle {
    pub create: Recipient<CreateServer>,
    pub delete: Recipient<DeleteServer>,
    pub exists: Recipient<ServerExists>,
}

/// The recipient of one kind of compute message.
pub trait Route<M: Message + Send>
where
    M::Result: Send,
{
    fn route(&self) -> &Recipient<M>;
}

impl Route<CreateServer> for ComputeHandle {
    fn route(&self) -> &Recipient<CreateServer> {
        &self.create
    }
}

impl Route<DeleteServer> for ComputeHandle {
    fn route(&self) -> &Recipient<DeleteServer> {
        &self.delete
    }
}

impl Route<ServerExists> for ComputeHandle {
    fn route(&self) -> &Recipient<ServerExists> {
        &self.exists
    }
}
