//! `/compute/v2.1`: a read-only Compute (Nova) v2.1 subset over coffer's compute driver, for
//! admins — what Trove users' tools look servers up in. A server is an instance's server (its
//! id the `server_id` Trove's mgmt view shows), with the instance's current flavor (it follows a
//! resize), address, status and creation time; flavors are coffer's. `openstack server list`
//! and `server show` work against it unmodified. The token must carry the admin role (401
//! without one, 403 for a member), and faults are Nova's (`itemNotFound`, `forbidden`).

use super::{links, AppState};
use crate::db::models::catalog::Flavor;
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// Admins only: a valid token with the admin role (noauth mode lets everyone in).
pub async fn require_admin_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    if state.services.config.auth.mode != crate::config::AuthMode::Noauth {
        let principal = super::auth::principal_of(&state, req.headers()).await?;
        if !principal.is_admin() {
            return Err(
                ApiError::Forbidden("Policy doesn't allow compute:servers:index to be performed.".into()).into(),
            );
        }
    }
    next.call(req).await
}

fn root(req: &HttpRequest) -> String {
    format!("{}/compute/v2.1", links::base(req))
}

/// The version document (Nova's, with no microversions beyond 2.1).
fn version(req: &HttpRequest) -> Value {
    json!({"id": "v2.1", "status": "CURRENT", "version": "2.1", "min_version": "2.1",
           "updated": "2013-07-23T11:33:21Z",
           "links": [{"rel": "self", "href": format!("{}/", root(req))}],
           "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]})
}

/// `GET /compute` and `/compute/`: the versions.
#[utoipa::path(
    get,
    path = "/compute",
    operation_id = "list_compute_versions",
    responses((status = 200, description = "Nova's versions.", body = super::openapi::schemas::compute::ComputeVersionList)),
)]
pub async fn versions(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "versions": [version(&req)] }))
}

/// `GET /compute/v2.1/`: this version.
#[utoipa::path(
    get,
    path = "/compute/v2.1",
    operation_id = "show_compute_version",
    responses((status = 200, description = "Nova's v2.1 version document.", body = super::openapi::schemas::compute::ComputeVersionBody)),
)]
pub async fn show_version(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "version": version(&req) }))
}

fn flavor_view(req: &HttpRequest, f: &Flavor, detail: bool) -> Value {
    let href = format!("{}/flavors/{}", root(req), f.id);
    let mut view = json!({"id": f.id, "name": f.name,
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]});
    if detail {
        view["ram"] = json!(f.ram);
        view["vcpus"] = json!(f.vcpus);
        view["disk"] = json!(f.disk);
        view["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral);
        view["OS-FLV-DISABLED:disabled"] = json!(false);
        view["os-flavor-access:is_public"] = json!(true);
        view["swap"] = json!("");
        view["rxtx_factor"] = json!(1.0);
    }
    view
}

/// Nova's status of a compute driver's server status.
fn nova_status(server_status: Option<&str>) -> &'static str {
    match server_status {
        Some("ACTIVE") => "ACTIVE",
        Some("SHUTDOWN") | Some("SHUTOFF") => "SHUTOFF",
        Some("BUILD") => "BUILD",
        _ => "ERROR",
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn server_view(req: &HttpRequest, inst: &Instance, detail: bool) -> Value {
    let id = inst.compute_instance_id.clone().unwrap_or_default();
    let href = format!("{}/servers/{id}", root(req));
    let mut view = json!({"id": id, "name": inst.name,
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]});
    if !detail {
        return view;
    }
    let status = nova_status(inst.server_status.as_deref());
    let addresses = match &inst.address {
        Some(a) => json!({"private": [{"version": 4, "addr": a, "OS-EXT-IPS:type": "fixed"}]}),
        None => json!({}),
    };
    let flavor_href = format!("{}/flavors/{}", root(req), inst.flavor_id);
    let extra = json!({
        "status": status, "tenant_id": inst.tenant_id, "user_id": inst.tenant_id,
        "metadata": {"trove_instance_id": inst.id}, "hostId": "", "image": "",
        "flavor": {"id": inst.flavor_id, "links": [{"rel": "bookmark", "href": flavor_href}]},
        "created": iso(inst.created), "updated": iso(inst.updated), "addresses": addresses,
        "accessIPv4": "", "accessIPv6": "", "progress": 0, "key_name": null,
        "config_drive": "", "security_groups": [], "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova", "OS-EXT-STS:vm_state": status.to_ascii_lowercase(),
        "OS-EXT-STS:task_state": null, "OS-EXT-STS:power_state": if status == "ACTIVE" { 1 } else { 4 },
        "os-extended-volumes:volumes_attached": [],
    });
    if let (Some(view), Some(extra)) = (view.as_object_mut(), extra.as_object()) {
        view.extend(extra.clone());
    }
    view
}

/// `GET /servers` filters Nova's clients send (others are ignored, as Nova ignores unknown ones
/// for admins): `name` (Nova matches it as a regular expression searched in the name; here a
/// plain substring), `status`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServerQuery {
    /// Servers whose name contains this.
    name: Option<String>,
    /// Servers with this Nova status (`ACTIVE`, `SHUTOFF`, `BUILD`, `ERROR`).
    status: Option<String>,
}

async fn servers(
    state: &AppState,
    req: &HttpRequest,
    query: ServerQuery,
    detail: bool,
) -> Result<HttpResponse, ApiError> {
    let found = state.db.run(Instance::with_servers).await?;
    let list: Vec<Value> = found
        .iter()
        .filter(|i| query.name.as_deref().is_none_or(|n| i.name.contains(n)))
        .filter(|i| {
            let status = nova_status(i.server_status.as_deref());
            query.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(status))
        })
        .map(|i| server_view(req, i, detail))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "servers": list })))
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/servers",
    operation_id = "list_compute_servers",
    params(ServerQuery),
    responses((status = 200, description = "Every instance's server: id, name, links.", body = super::openapi::schemas::compute::ServerList)),
)]
pub async fn list_servers(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ServerQuery>,
) -> Result<HttpResponse, ApiError> {
    servers(&state, &req, query.into_inner(), false).await
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/servers/detail",
    operation_id = "list_compute_servers_detail",
    params(ServerQuery),
    responses((status = 200, description = "Every instance's server, in detail.", body = super::openapi::schemas::compute::ServerList)),
)]
pub async fn list_servers_detail(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ServerQuery>,
) -> Result<HttpResponse, ApiError> {
    servers(&state, &req, query.into_inner(), true).await
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/servers/{id}",
    operation_id = "show_compute_server",
    params(("id" = String, Path, description = "The server's id (an instance's `server_id`).")),
    responses((status = 200, description = "The server.", body = super::openapi::schemas::compute::ServerBody)),
)]
pub async fn show_server(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let lookup = id.clone();
    let found = state.db.run(move |c| Instance::by_server_id(c, &lookup)).await?;
    let inst = found.ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
    Ok(HttpResponse::Ok().json(json!({ "server": server_view(&req, &inst, true) })))
}

async fn flavors(state: &AppState, req: &HttpRequest, detail: bool) -> Result<HttpResponse, ApiError> {
    let all = state.db.run(Flavor::all).await?;
    let list: Vec<Value> = all.iter().map(|f| flavor_view(req, f, detail)).collect();
    Ok(HttpResponse::Ok().json(json!({ "flavors": list })))
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/flavors",
    operation_id = "list_compute_flavors",
    responses((status = 200, description = "Every flavor: id, name, links.", body = super::openapi::schemas::compute::ComputeFlavorList)),
)]
pub async fn list_flavors(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    flavors(&state, &req, false).await
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/flavors/detail",
    operation_id = "list_compute_flavors_detail",
    responses((status = 200, description = "Every flavor, in detail.", body = super::openapi::schemas::compute::ComputeFlavorList)),
)]
pub async fn list_flavors_detail(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    flavors(&state, &req, true).await
}

#[utoipa::path(
    get,
    path = "/compute/v2.1/flavors/{id}",
    operation_id = "show_compute_flavor",
    params(("id" = String, Path, description = "The flavor's id.")),
    responses((status = 200, description = "The flavor, in detail.", body = super::openapi::schemas::compute::ComputeFlavorBody)),
)]
pub async fn show_flavor(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let lookup = id.clone();
    let flavor = state.db.run(move |c| Flavor::find(c, &lookup)).await?;
    let flavor = flavor.ok_or_else(|| ApiError::NotFound(format!("Flavor {id} could not be found.")))?;
    Ok(HttpResponse::Ok().json(json!({ "flavor": flavor_view(&req, &flavor, true) })))
}
