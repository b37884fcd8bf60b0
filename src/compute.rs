//! Compute drivers: what provisions the "server" an instance lives on (Nova's role in Trove).
//!
//! `simulated` boots a guest session with an in-memory datastore in milliseconds; `process` runs
//! real PostgreSQL, MariaDB and Redis servers on this host. Their guests run in the task
//! manager's process, or as processes of their own ([`guest_process`]).

pub mod error;
pub mod guest_process;
pub mod messages;
pub mod process;
pub mod simulated;

use error::ComputeError;

/// What compute reports about a server it created.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub compute_instance_id: String,
    pub address: Option<String>,
}

/// Why compute did not create a server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    /// Something it needs cannot be reached now (the database, the bus): asking again later
    /// may succeed, and the create flow retries until its deadline.
    #[error("{0}")]
    Unavailable(String),
    /// The server cannot be made (no free address, no such datastore, a driver refused).
    #[error("{0}")]
    Refused(String),
}

impl ServerError {
    /// For `map_err`: what failed may work when asked again.
    pub fn unavailable(e: impl std::fmt::Display) -> ServerError {
        ServerError::Unavailable(e.to_string())
    }

    /// For `map_err`: what failed will fail again.
    pub fn refused(e: impl std::fmt::Display) -> ServerError {
        ServerError::Refused(e.to_string())
    }
}

/// The datastore driver of an instance's server, its volume secrets sealed under its key.
pub fn datastore_for(
    config: &crate::config::Config,
    instance_id: &str,
    manager: crate::manager::Manager,
    address: Option<std::net::Ipv4Addr>,
    prepared: bool,
    key: &crate::bus::signing::GuestKey,
) -> Result<Box<dyn crate::guest::Datastore>, ComputeError> {
    if manager.is_simulated() {
        let prepare_time = config.compute.simulated_prepare_ms;
        return Ok(simulated::datastore_for(prepare_time, prepared));
    }
    let address = address.ok_or_else(|| ComputeError::Refused(format!("instance {instance_id} has no address")))?;
    let user = crate::guest::account::ensure(instance_id)?;
    process::datastore_for(
        manager,
        crate::guest::InstanceSpec {
            dir: config.instances_dir().join(instance_id),
            address,
            secrets: std::sync::Arc::new(key.volume_key()),
            user,
        },
    )
}
