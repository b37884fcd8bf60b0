//! `/mgmt`: what operators read — this process's live actors with their restart counts, the
//! supervision events of every process, the cluster's services (up or down), and flows with
//! their lease owner and expiry.

use super::views::iso_ms as iso;
use super::{supervision_tree, AppState, PageQuery};
use crate::actors::service_reporter::store_pending;
use crate::db::models::cluster::{self, EventRow, ServiceRow};
use crate::db::models::flow_listing::{self, FlowFilter};
use crate::db::now_ms;
use crate::error::ApiError;
use crate::flows::step_name;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActorQuery {
    /// Only actors of this kind (no tree then).
    pub kind: Option<String>,
}

/// `GET /mgmt/actors`: this process's live actors (`kind` narrows them), each with its
/// supervisor, restarts and last failure; and, unless narrowed, the same as a tree: the
/// system, its components, and the actors each component supervises.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/actors",
    params(super::openapi::params::Tenant, ActorQuery),
    responses((status = 200, description = "This process's live actors, and their supervision tree.", body = super::openapi::schemas::mgmt::ActorList)),
)]
pub async fn list_actors(state: web::Data<AppState>, query: web::Query<ActorQuery>) -> HttpResponse {
    let actors = state.services.supervision.actors(query.kind.as_deref());
    let mut body = json!({ "node_id": state.services.node_id });
    if query.kind.is_none() {
        body["tree"] = {
            let depths = supervision_tree::mailbox_depths(&state.services.bus, &actors).await;
            supervision_tree::of(&state.services.node_id, &actors, &depths)
        };
    }
    body["actors"] = json!(actors);
    HttpResponse::Ok().json(body)
}

/// `text` as a query value.
fn encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SupervisionQuery {
    /// At most this many events (a positive integer).
    pub limit: Option<String>,
    /// The last event id of the page before.
    pub marker: Option<String>,
    /// The newest N events instead of a page from the oldest.
    pub latest: Option<String>,
}

/// `GET /mgmt/supervision-events`: every process's stored supervision events, oldest first a
/// page at a time (`limit`, `marker`), or the newest `latest` (at most 1000).
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/supervision-events",
    params(super::openapi::params::Tenant, SupervisionQuery),
    responses((status = 200, description = "Every process's supervision events.", body = super::openapi::schemas::mgmt::SupervisionEventList)),
)]
pub async fn list_supervision_events(
    state: web::Data<AppState>,
    query: web::Query<SupervisionQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let latest = PageQuery {
        limit: query.latest.clone(),
        marker: None,
    };
    let query = PageQuery {
        limit: query.limit,
        marker: query.marker,
    };
    let limit = query.limit(100)?;
    let marker = match &query.marker {
        None => None,
        Some(m) => Some(
            m.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("marker must be an event id, not {m:?}")))?,
        ),
    };
    // This process's own events are stored first, so that they are seen at once.
    store_pending(&state.db, &state.services.supervision, &state.services.service).await?;
    let (rows, more) = match latest.limit {
        Some(_) => {
            let count = latest.limit(20)?.min(1000);
            (state.db.run(move |c| EventRow::latest(c, count)).await?, false)
        }
        None => {
            let mut rows = state.db.run(move |c| EventRow::page(c, limit, marker)).await?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            (rows, more)
        }
    };
    let events: Vec<_> = rows
        .iter()
        .map(|e| {
            json!({"id": e.id, "at": iso(e.at), "kind": e.kind, "actor_id": e.actor_id, "event": e.event,
                   "reason": e.reason, "node_id": e.node_id, "service_id": e.service_id})
        })
        .collect();
    let mut body = json!({ "events": events });
    if let (true, Some(last)) = (more, rows.last()) {
        body["links"] = json!([{"rel": "next", "href": format!("?limit={limit}&marker={}", last.id)}]);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /mgmt/services`: every process seen in the last day, up or down, each with what it
/// last reported of its actors (counts by kind, components, restarted or failed actors); and
/// the cluster-wide jobs' leases.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/services",
    params(super::openapi::params::Tenant),
    responses((status = 200, description = "Every process seen in the last day, and the cluster's leases.", body = super::openapi::schemas::mgmt::ServiceList)),
)]
pub async fn list_services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (rows, leases) = state
        .db
        .run(|c| Ok((ServiceRow::list(c)?, cluster::leases(c)?)))
        .await?;
    let down_after = state.services.config.cluster.down_after_s.as_millis() as i64;
    let now = now_ms();
    let services: Vec<_> = rows
        .iter()
        .map(|s| {
            let up = now - s.last_seen <= down_after;
            json!({"id": s.id, "role": s.role, "node_id": s.node_id, "host": s.host, "pid": s.pid,
                   "version": s.version, "started": iso(s.started), "last_seen": iso(s.last_seen),
                   "state": if up { "up" } else { "down" }, "telemetry_url": s.telemetry_url,
                   "capacity": s.capacity, "hosted": s.hosted,
                   "actors": s.actors.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())})
        })
        .collect();
    let leases: Vec<_> = leases
        .iter()
        .map(|(name, owner, until)| json!({"name": name, "owner": owner, "lease_until": iso(*until)}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "services": services, "leases": leases })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowQuery {
    /// An instance's or a backup's flows (`instance_id`, as before `target_id` existed).
    pub instance_id: Option<String>,
    /// One instance's or backup's flows.
    pub target_id: Option<String>,
    /// `running`, `done`, `failed`, …
    pub status: Option<String>,
    /// `create`, `delete`, `resize`, `backup`, …
    pub kind: Option<String>,
    /// The node holding the lease.
    pub owner: Option<String>,
    /// The target's project.
    pub project_id: Option<String>,
    /// At most this many flows (a positive integer).
    pub limit: Option<String>,
    /// The last flow id of the page before.
    pub marker: Option<String>,
}

/// `GET /mgmt/flows`: every flow, oldest first, a page at a time (`limit`, `marker`: the last
/// flow id of the page before), narrowed by `target_id` (or `instance_id`), `status` (e.g.
/// `running`), `kind`, `owner` (the node holding the lease) and `project_id`; each with its
/// step, attempts, lease owner and when the lease expires.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/flows",
    params(super::openapi::params::Tenant, FlowQuery),
    responses((status = 200, description = "Flows, oldest first, a page at a time.", body = super::openapi::schemas::mgmt::FlowList)),
)]
pub async fn list_flows(state: web::Data<AppState>, query: web::Query<FlowQuery>) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit.clone(),
        marker: None,
    };
    let limit = page.limit(1000)?;
    let filter = FlowFilter {
        target_id: query.target_id.or(query.instance_id),
        status: query.status,
        kind: query.kind,
        owner: query.owner,
        project: query.project_id,
    };
    // The next page's link keeps the filters.
    let kept: String = [
        ("target_id", &filter.target_id),
        ("status", &filter.status),
        ("kind", &filter.kind),
        ("owner", &filter.owner),
        ("project_id", &filter.project),
    ]
    .iter()
    .filter_map(|(name, value)| value.as_ref().map(|v| format!("&{name}={}", encoded(v))))
    .collect();
    let marker = query.marker.clone();
    let rows = state
        .db
        .run(move |c| flow_listing::page(c, &filter, limit, marker.as_deref()))
        .await?
        .ok_or_else(|| ApiError::BadRequest("marker names no flow".into()))?;
    let more = rows.len() as i64 > limit;
    let now = now_ms();
    let list: Vec<_> = rows
        .iter()
        .take(limit as usize)
        .map(|f| {
            json!({
                "id": f.id, "kind": f.kind, "target_id": f.target_id, "step": f.step,
                "step_name": step_name(&f.kind, f.step), "status": f.status, "owner": f.owner,
                "lease_until": iso(f.lease_until), "lease_left_ms": (f.lease_until - now).max(0),
                "deadline": iso(f.deadline), "attempts": f.attempts, "last_error": f.last_error,
                "created": iso(f.created), "updated": iso(f.updated),
            })
        })
        .collect();
    let mut body = json!({ "flows": list });
    if let (true, Some(last)) = (more, rows.get(limit as usize - 1)) {
        // The same filters, from the page's last flow.
        let href = format!("?limit={limit}&marker={}{kept}", encoded(&last.id));
        body["links"] = json!([{"rel": "next", "marker": last.id, "href": href}]);
    }
    Ok(HttpResponse::Ok().json(body))
}
