//! The supervised actors of the control plane, one per file with its messages beside it:
//!
//! - [`task_manager::TaskManager`] consumes `taskmanager`, claims flows and owns one
//!   [`instance::FlowActor`] per instance with work in flight;
//! - [`instance::FlowActor`] runs that instance's flows step by step from the database;
//! - [`compute::Compute`] provisions servers and owns one [`guest_session::GuestSession`] each;
//! - [`guest_session::GuestSession`] is the guest agent: consumes `guestagent.<id>`, drives a
//!   datastore driver, heartbeats when [`heartbeat_wheel::HeartbeatWheel`] (one timer for all
//!   the sessions of a process) says;
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
pub mod heartbeat_wheel;
pub mod service_reporter;
pub mod task_manager;

/// The rest of a handler's work, run on its actor once what it waited for is there: a task of
/// its own does the waiting and then sends this. actix polls every pending item of an actor's
/// context each time the actor wakes, so work that waits (for a database connection, with
/// thousands of creates in flight) inside an actor they all share made each wake cost
/// thousands of polls; this way the shared actor's context holds nothing pending.
pub(crate) struct Resume<A: actix::Actor, R>(Box<RestOf<A, R>>);

/// What runs on the actor: it, its context, and the handler's answer.
type RestOf<A, R> = dyn FnOnce(&mut A, &mut <A as actix::Actor>::Context) -> R + Send;

impl<A: actix::Actor, R: 'static> actix::Message for Resume<A, R> {
    type Result = R;
}

impl<A: actix::Actor, R> Resume<A, R> {
    pub(crate) fn new(rest: impl FnOnce(&mut A, &mut A::Context) -> R + Send + 'static) -> Self {
        Resume(Box::new(rest))
    }

    /// Runs the rest on `actor` (from its `Handler<Resume<..>>`).
    pub(crate) fn run(self, actor: &mut A, ctx: &mut A::Context) -> R {
        (self.0)(actor, ctx)
    }
}
