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
//! - every actor records its lifecycle in [`crate::telemetry::supervision::SupervisionLog`] for operators.

pub mod backup_scheduler;
pub mod compute;
pub mod conductor;
pub mod flow_actor;
pub mod guest_pool;
pub mod guest_session;
pub mod guest_watch;
pub mod service_reporter;
pub mod task_manager;

/// Runs `work` as a task of its own on this thread and waits for it. actix polls every pending
/// item of an actor each time the actor wakes: work that waits (for a database connection, with
/// hundreds of creates in flight) inside an actor shared by them all is polled at every wake,
/// where a task's handle costs an atomic read.
pub(crate) async fn apart<F: std::future::Future + 'static>(work: F) -> Result<F::Output, tokio::task::JoinError> {
    actix::spawn(work).await
}
