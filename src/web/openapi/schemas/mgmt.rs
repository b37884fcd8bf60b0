//! `/mgmt`: actors and their tree, supervision events, flows, services; and the Compute view.

use super::common::Link;
use crate::telemetry::supervision::{ActorEntry, ActorRef, FailureEntry};
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /mgmt/actors`: this process's live actors, and (unless narrowed by `kind`) their tree.
#[derive(ToSchema)]
pub struct ActorList {
    /// The process's node.
    node_id: String,
    /// The system, its components, and what each supervises (absent when `kind` is given).
    tree: Option<ActorTreeNode>,
    actors: Vec<ActorEntry>,
}

/// A node of the supervision tree: the system at the root, then actors.
#[derive(ToSchema)]
pub struct ActorTreeNode {
    /// `system` at the root, else the actor's kind (`compute`, `instance_flow`, `guest_session`, …).
    kind: String,
    id: String,
    started_at: Option<String>,
    restarts: Option<u64>,
    last_failure: Option<FailureEntry>,
    /// Messages waiting on the bus topic that feeds it (task manager, conductor, guest pool,
    /// guest session): the in-process queue's length, or RabbitMQ's count of ready messages;
    /// null for other actors, and for a topic the broker did not count in time.
    mailbox_depth: Option<u64>,
    /// Who started it; absent at the root and for the components the system supervises.
    supervisor: Option<ActorRef>,
    /// How many children it has (at most 1000 are listed).
    children_total: u64,
    #[schema(no_recursion)]
    children: Vec<ActorTreeNode>,
}

/// One stored supervision event (an actor started, stopped, failed or restarted).
#[derive(ToSchema)]
pub struct SupervisionEvent {
    id: i64,
    /// RFC 3339, milliseconds, UTC.
    at: String,
    /// The actor's kind.
    kind: String,
    actor_id: String,
    /// `started`, `stopped`, `failed`, `restarted`, …
    event: String,
    reason: String,
    node_id: String,
    service_id: String,
}

/// `GET /mgmt/supervision-events`.
#[derive(ToSchema)]
pub struct SupervisionEventList {
    events: Vec<SupervisionEvent>,
    /// The next page, when there is one.
    links: Option<Vec<Link>>,
}

/// A durable flow: what the task manager is doing (or did) for an instance or a backup.
#[derive(ToSchema)]
pub struct FlowView {
    id: String,
    /// `create`, `delete`, `resize`, `backup`, …
    kind: String,
    /// The instance or backup it works on.
    target_id: String,
    step: i64,
    step_name: String,
    /// `running`, `done`, `failed`, …
    status: String,
    /// The node holding the flow's lease (admins only).
    owner: Option<String>,
    lease_until: String,
    lease_left_ms: i64,
    deadline: String,
    attempts: i64,
    last_error: Option<String>,
    created: String,
    updated: String,
}

/// A next-page link that also names its marker.
#[derive(ToSchema)]
pub struct MarkerLink {
    rel: String,
    marker: String,
    href: String,
}

/// `GET /mgmt/flows`.
#[derive(ToSchema)]
pub struct FlowList {
    flows: Vec<FlowView>,
    links: Option<Vec<MarkerLink>>,
}

/// One coffer process (API, conductor, task manager, guest pool, or all in one).
#[derive(ToSchema)]
pub struct ServiceView {
    id: String,
    /// `api`, `conductor`, `taskmanager`, `all` or `guest_pool`.
    role: String,
    node_id: String,
    host: String,
    pid: i64,
    version: String,
    started: String,
    last_seen: String,
    /// `up` when seen within `[cluster] down_after_s`, else `down`.
    state: String,
    telemetry_url: Option<String>,
    capacity: Option<i64>,
    hosted: Option<i64>,
    /// What it last reported of its actors: counts by kind, its components, restarted or
    /// failed actors.
    #[schema(value_type = Option<Object>)]
    actors: Option<Value>,
}

/// A cluster-wide job's lease.
#[derive(ToSchema)]
pub struct LeaseView {
    name: String,
    owner: String,
    lease_until: String,
}

/// `GET /mgmt/services`.
#[derive(ToSchema)]
pub struct ServiceList {
    services: Vec<ServiceView>,
    leases: Vec<LeaseView>,
}
