//! What every actor and handler is built from ([`Services`]): the configuration, the database
//! pools, the bus, the shared records (supervision, wake-ups, metrics), the keys and the backup
//! store of this process. Built once by [`crate::app`]; depends on no actor.

use std::sync::Arc;

/// What every actor is built from: configuration, the pool, the bus and the shared records.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<crate::config::Config>,
    pub db: crate::db::Db,
    pub bus: crate::bus::Bus,
    pub supervision: Arc<crate::telemetry::supervision::SupervisionLog>,
    pub faults: Arc<crate::testing::FaultInjector>,
    pub metrics: Arc<Metrics>,
    pub wakeups: Arc<crate::bus::wakeups::Wakeups>,
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
    pub heartbeats_applied: std::sync::atomic::AtomicI64,
    pub heartbeats_stale: std::sync::atomic::AtomicI64,
    /// Heartbeats superseded by a newer one of the same instance in the same batch.
    pub heartbeats_coalesced: std::sync::atomic::AtomicI64,
    /// Heartbeat batches the conductor wrote.
    pub heartbeat_batches: std::sync::atomic::AtomicI64,
    /// Time (µs) the heartbeat batches' transactions held the write lock, from `BEGIN` taken to
    /// the commit. On SQLite there is one writer at a time, so this bounds the rate the
    /// conductors can apply; on PostgreSQL transactions overlap and this is only their sum.
    pub heartbeat_write_us: std::sync::atomic::AtomicI64,
    /// Guest messages dropped because their signature did not verify (or was missing).
    pub messages_rejected: std::sync::atomic::AtomicI64,
    /// Lag (ms) between a heartbeat's `sent` and its application, last batch's maximum.
    pub heartbeat_lag_ms: std::sync::atomic::AtomicI64,
    /// Passes the backup scheduler finished (a test waits for passes, not for time, to see
    /// that a pass did nothing).
    pub scheduler_passes: std::sync::atomic::AtomicI64,
}
