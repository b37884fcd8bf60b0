//! `/flavors`: the sizes an instance can have (Nova's flavors in Trove).

use super::openapi::params::Tenant;
use super::openapi::schemas::catalog::{FlavorBody, FlavorList};
use super::{links, AppState};
use crate::db::models::catalog::Flavor;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// Trove's flavor view: `id` is the integer id or null, `str_id` always the id as a string.
fn flavor_view(base: &str, tenant: &str, f: &Flavor) -> Value {
    json!({
        "id": f.id.parse::<i64>().ok(),
        "str_id": f.id,
        "name": f.name,
        "ram": f.ram,
        "vcpus": f.vcpus,
        "disk": f.disk,
        "ephemeral": f.ephemeral,
        "links": links::resource(base, tenant, "flavors", &f.id),
    })
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/flavors",
    params(Tenant),
    responses((status = 200, description = "Every flavor.", body = FlavorList)),
)]
pub async fn list_flavors(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let catalog = state.caches.catalog(&state.db).await?;
    let base = links::base(&req);
    let list: Vec<Value> = catalog.flavors.iter().map(|f| flavor_view(&base, &tenant, f)).collect();
    Ok(HttpResponse::Ok().json(json!({ "flavors": list })))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/flavors/{flavor_id}",
    params(Tenant, ("flavor_id" = String, Path, description = "The flavor's id or name.")),
    responses((status = 200, description = "The flavor.", body = FlavorBody)),
)]
pub async fn show_flavor(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    let catalog = state.caches.catalog(&state.db).await?;
    let flavor = catalog
        .flavor(&id)
        .ok_or_else(|| ApiError::NotFound(format!("Flavor {id} could not be found.")))?;
    Ok(HttpResponse::Ok().json(json!({ "flavor": flavor_view(&links::base(&req), &tenant, flavor) })))
}
