//! `/datastores` and their versions, found by id or by name as troveclient sends either.

use super::{links, AppState};
use crate::db::models::catalog::{Datastore, DatastoreVersion};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

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

async fn find_datastore(state: &AppState, key: String) -> Result<Datastore, ApiError> {
    let lookup = key.clone();
    state
        .db
        .run(move |c| Datastore::find_by_id_or_name(c, &lookup))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Datastore '{key}' cannot be found.")))
}

pub async fn list_datastores(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let all = state.db.run(Datastore::all_with_versions).await?;
    let base = links::base(&req);
    let list: Vec<Value> = all
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
    let ds = find_datastore(&state, key).await?;
    let ds_id = ds.id.clone();
    let versions = state
        .db
        .run(move |c| DatastoreVersion::for_datastore(c, &ds_id))
        .await?;
    let view = datastore_view(&links::base(&req), &tenant, &ds, &versions);
    Ok(HttpResponse::Ok().json(json!({ "datastore": view })))
}

pub async fn list_versions(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let ds = find_datastore(&state, key).await?;
    let versions = state
        .db
        .run(move |c| DatastoreVersion::for_datastore(c, &ds.id))
        .await?;
    let base = links::base(&req);
    let list: Vec<Value> = versions.iter().map(|v| version_view(&base, &tenant, v)).collect();
    Ok(HttpResponse::Ok().json(json!({ "versions": list })))
}

pub async fn show_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key, version) = path.into_inner();
    let ds = find_datastore(&state, key).await?;
    let lookup = version.clone();
    let found = state
        .db
        .run(move |c| DatastoreVersion::find_in(c, &ds.id, &lookup))
        .await?;
    let v = found.ok_or_else(|| ApiError::NotFound(format!("Datastore version '{version}' cannot be found.")))?;
    Ok(HttpResponse::Ok().json(json!({ "version": version_view(&links::base(&req), &tenant, &v) })))
}
