//! Compute drivers: what provisions the "server" an instance lives on (Nova's role in Trove).
//!
//! `simulated` boots a guest session with an in-memory datastore in milliseconds. The `process`
//! driver (real PostgreSQL, MariaDB, Redis servers) comes with the real-datastore issue.

pub mod process;
pub mod simulated;

/// What compute reports about a server it created.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub compute_instance_id: String,
    pub address: Option<String>,
}
