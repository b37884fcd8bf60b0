//! `/datastores` and their versions, found by id or by name as troveclient sends either,
//! answered from the catalog the API keeps in memory ([`super::caches`]).

use super::{links, AppState};
use crate::db::models::catalog::{Catalog, Datastore, DatastoreVersion};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;

fn version_view(base: &str, tenant: &str, v: &DatastoreVersion) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "version": v.version,
        "datastore": v.datastore_id,
        "active": v.active,
        "links": links::resource(base, tenant, "datastore_versions", &v.id),
    })
}

fn datastore_view(base: &str, tenant: &str, ds: &Datastore, versions: &[DatastoreVersion]) -> Value {
    let mut view = json!({
        "id": ds.id,
        "name": ds.name,
        "links": links::resource(base, tenant, "datastores", &ds.id),
        "versions": versions.iter().map(|v| version_view(base, tenant, v)).collect::<Vec<_>>(),
    });
    // default_version must name one of the listed versions, or troveclient fails.
    if let Some(default) = ds
        .default_version_id
        .as_ref()
        .filter(|d| versions.iter().any(|v| &v.id == *d))
    {
        view["default_version"] = json!(default);
    }
    view
}

/// The datastore `key` names (id or name) and its versions, from the catalog.
async fn find_datastore(state: &AppState, key: &str) -> Result<(Arc<Catalog>, usize), ApiError> {
    let catalog = state.caches.catalog(&state.db).await?;
    let at = catalog
        .datastore_at(key)
        .ok_or_else(|| ApiError::NotFound(format!("Datastore '{key}' cannot be found.")))?;
    Ok((catalog, at))
}

pub async fn list_datastores(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let catalog = state.caches.catalog(&state.db).await?;
    let base = links::base(&req);
    let list: Vec<Value> = catalog
        .datastores
        .iter()
        .map(|(ds, vs)| datastore_view(&base, &tenant, ds, vs))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "datastores": list })))
}

pub async fn show_datastore(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let (ds, versions) = &catalog.datastores[at];
    let view = datastore_view(&links::base(&req), &tenant, ds, versions);
    Ok(HttpResponse::Ok().json(json!({ "datastore": view })))
}

pub async fn list_versions(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let base = links::base(&req);
    let list: Vec<Value> = catalog.datastores[at]
        .1
        .iter()
        .map(|v| version_view(&base, &tenant, v))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "versions": list })))
}

pub async fn show_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key, version) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let v = Catalog::version_in(&catalog.datastores[at].1, &version)
        .ok_or_else(|| ApiError::NotFound(format!("Datastore version '{version}' cannot be found.")))?;
    Ok(HttpResponse::Ok().json(json!({ "version": version_view(&links::base(&req), &tenant, v) })))
}
