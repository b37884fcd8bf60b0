//! The supervised actors of the control plane, one per file with its messages beside it:
//!
//! - [`task_manager::TaskManager`] consumes `taskmanager`, claims flows and owns one
//!   [`instance::FlowActor`] per instance with work in flight;
//! - [`instance::FlowActor`] runs that instance's flows step by step from the database;
//! - [`compute::Compute`] provisions servers and owns one [`guest_session::GuestSession`] each;
//! - [`guest_session::GuestSession`] is the guest agent: consumes `guestagent.<id>`, drives a
//!   datastore driver, heartbeats;
//! - [`conductor::Conductor`] consumes `trove-conductor` and applies heartbeats and backup
//!   reports to the database;
//! - [`backup_scheduler::BackupScheduler`] starts scheduled backups and applies retention;
//! - [`guest_watch::GuestWatch`] re-hosts the guests of a pool that died on a live pool;
//! - [`service_reporter::ServiceReporter`] keeps this process in the cluster's service list;
//! - [`supervision::SupervisionLog`] records every actor's lifecycle for operators.

pub mod backup_scheduler;
pub mod compute;
pub mod conductor;
pub mod flow_actor;
pub mod guest_pool;
pub mod guest_session;
pub mod guest_watch;
pub mod service_reporter;
pub mod supervision;
pub mod task_manager;
pub mod wakeups;

use crate::bus::Bus;
use crate::config::Config;
use crate::db::Db;
use crate::testing::FaultInjector;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

/// What every actor is built from: configuration, the pool, the bus and the shared records.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub bus: Bus,
    pub supervision: Arc<supervision::SupervisionLog>,
    pub faults: Arc<FaultInjector>,
    pub metrics: Arc<Metrics>,
    pub wakeups: Arc<wakeups::Wakeups>,
    /// The master key secrets at rest are sealed under.
    pub secrets: Arc<crate::secrets::MasterKey>,
    /// Signed casts and calls to guests, and the guest keys.
    pub guests: crate::guest_link::GuestLink,
    /// Where backups are stored.
    pub backup_store: crate::storage::BackupStore,
    /// This node's id, the owner written on the flows it runs.
    pub node_id: String,
    /// This process as the service list shows it.
    pub service: Arc<crate::db::models::cluster::ServiceRow>,
}

/// Counters the actors keep for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub heartbeats_applied: AtomicI64,
    pub heartbeats_stale: AtomicI64,
    /// Heartbeats superseded by a newer one of the same instance in the same batch.
    pub heartbeats_coalesced: AtomicI64,
    /// Heartbeat batches the conductor wrote.
    pub heartbeat_batches: AtomicI64,
    /// Guest messages dropped because their signature did not verify (or was missing).
    pub messages_rejected: AtomicI64,
    /// Lag (ms) between a heartbeat's `sent` and its application, last batch's maximum.
    pub heartbeat_lag_ms: AtomicI64,
}

/// Back-off before retrying after `failures` consecutive failures: doubling, at most 30 s.
pub fn backoff(base_ms: u64, failures: u32) -> std::time::Duration {
    if failures == 0 {
        return std::time::Duration::ZERO;
    }
    let ms = base_ms.saturating_mul(1u64 << failures.min(16).saturating_sub(1));
    std::time::Duration::from_millis(ms.min(30_000))
}
