//! `/datastores` and their versions, found by id or by name as troveclient sends either,
//! answered from the catalog the API keeps in memory ([`super::caches`]).

use super::openapi::params::Tenant;
use super::openapi::schemas::catalog::{DatastoreBody, DatastoreList, DatastoreVersionBody, DatastoreVersionList};
use super::views::{Keyed, LinkPair};
use super::{links, AppState};
use crate::db::models::catalog::{Catalog, Datastore, DatastoreVersion};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::sync::Arc;

/// A datastore version as Trove shows it, serialized straight from the catalog.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DatastoreVersionView)]
pub(super) struct VersionView<'a> {
    /// Whether instances may be created with it or upgraded to it.
    active: bool,
    /// The datastore's id.
    datastore: &'a str,
    id: &'a str,
    #[schema(value_type = Vec<crate::web::openapi::schemas::common::Link>)]
    links: LinkPair<'a>,
    name: &'a str,
    /// The datastore's own version number (`8.0.36`).
    version: &'a str,
}

fn version_view<'a>(base: &'a str, tenant: &'a str, v: &'a DatastoreVersion) -> VersionView<'a> {
    VersionView {
        active: v.active,
        datastore: &v.datastore_id,
        id: &v.id,
        links: LinkPair::of(base, tenant, "datastore_versions", &v.id),
        name: &v.name,
        version: &v.version,
    }
}

/// A datastore with its versions as Trove shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DatastoreView<'a> {
    /// The id of the version used when none is named; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    default_version: Option<&'a str>,
    id: &'a str,
    #[schema(value_type = Vec<crate::web::openapi::schemas::common::Link>)]
    links: LinkPair<'a>,
    name: &'a str,
    versions: Vec<VersionView<'a>>,
}

fn datastore_view<'a>(
    base: &'a str,
    tenant: &'a str,
    ds: &'a Datastore,
    versions: &'a [DatastoreVersion],
) -> DatastoreView<'a> {
    DatastoreView {
        // default_version must name one of the listed versions, or troveclient fails.
        default_version: ds
            .default_version_id
            .as_deref()
            .filter(|d| versions.iter().any(|v| v.id == *d)),
        id: &ds.id,
        links: LinkPair::of(base, tenant, "datastores", &ds.id),
        name: &ds.name,
        versions: versions.iter().map(|v| version_view(base, tenant, v)).collect(),
    }
}

/// The datastore `key` names (id or name) and its versions, from the catalog.
async fn find_datastore(state: &AppState, key: &str) -> Result<(Arc<Catalog>, usize), ApiError> {
    let catalog = state.caches.catalog(&state.db).await?;
    let at = catalog
        .datastore_at(key)
        .ok_or_else(|| ApiError::NotFound(format!("Datastore '{key}' cannot be found.")))?;
    Ok((catalog, at))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores",
    params(Tenant),
    responses((status = 200, description = "Every datastore, with its versions.", body = DatastoreList)),
)]
pub async fn list_datastores(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let catalog = state.caches.catalog(&state.db).await?;
    let base = links::base(&req);
    let list: Vec<DatastoreView> = catalog
        .datastores
        .iter()
        .map(|(ds, vs)| datastore_view(&base, &tenant, ds, vs))
        .collect();
    Ok(HttpResponse::Ok().json(Keyed("datastores", list)))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/{ds}",
    params(Tenant, ("ds" = String, Path, description = "The datastore's id or name.")),
    responses((status = 200, description = "The datastore, with its versions.", body = DatastoreBody)),
)]
pub async fn show_datastore(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let (ds, versions) = &catalog.datastores[at];
    let base = links::base(&req);
    let view = datastore_view(&base, &tenant, ds, versions);
    Ok(HttpResponse::Ok().json(Keyed("datastore", view)))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/{ds}/versions",
    operation_id = "list_datastore_versions",
    params(Tenant, ("ds" = String, Path, description = "The datastore's id or name.")),
    responses((status = 200, description = "The datastore's versions.", body = DatastoreVersionList)),
)]
pub async fn list_versions(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let base = links::base(&req);
    let list: Vec<VersionView> = catalog.datastores[at]
        .1
        .iter()
        .map(|v| version_view(&base, &tenant, v))
        .collect();
    Ok(HttpResponse::Ok().json(Keyed("versions", list)))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/{ds}/versions/{version}",
    operation_id = "show_datastore_version",
    params(
        Tenant,
        ("ds" = String, Path, description = "The datastore's id or name."),
        ("version" = String, Path, description = "The version's id or name."),
    ),
    responses((status = 200, description = "The version.", body = DatastoreVersionBody)),
)]
pub async fn show_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key, version) = path.into_inner();
    let (catalog, at) = find_datastore(&state, &key).await?;
    let v = Catalog::version_in(&catalog.datastores[at].1, &version)
        .ok_or_else(|| ApiError::NotFound(format!("Datastore version '{version}' cannot be found.")))?;
    Ok(HttpResponse::Ok().json(Keyed("version", version_view(&links::base(&req), &tenant, v))))
}
