//! `/backups` and `/instances/{id}/backups` in Trove's shapes: create (202; registering with
//! `restore_from` is in [`backup_registration`]), list (filters
//! `instance_id`, `datastore`, admin `all_projects`; integer offset marker, most recently
//! updated first), show, delete (202, with the backups chained on it).

use super::acting::Acting;
use super::input::Body;
use super::openapi::fault::Fault;
use super::openapi::params::{Tenant, TenantInstance, TenantResource};
use super::openapi::schemas::backups::{
    BackupBody, BackupCreateRequest, BackupFilters, BackupList, BackupPage, BackupStrategyList, BackupStrategyRequest,
};
use super::validate::{bad, name_field, object, string_field};
use super::views::iso;
use super::{auth, backup_registration, flow_casts::cast_flow, links, AppState, PageQuery};
use crate::db::models::backup::{Backup, BackupFilter};
use crate::db::models::catalog::{Datastore, DatastoreVersion};
use crate::db::models::instance::Instance;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::intents::backups::{self, CreateBackup, RegisterBackup};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `{"type", "version", "version_id"}` of each datastore version the backups name.
fn datastores_of(conn: &mut DbConn, list: &[Backup]) -> Result<HashMap<String, Value>, crate::db::DbError> {
    let mut map = HashMap::new();
    for b in list {
        if map.contains_key(&b.datastore_version_id) {
            continue;
        }
        if let Some(v) = DatastoreVersion::find(conn, &b.datastore_version_id)? {
            let ds = Datastore::find_by_id_or_name(conn, &v.datastore_id)?;
            map.insert(
                v.id.clone(),
                json!({"type": ds.map(|d| d.name).unwrap_or_default(), "version": v.name, "version_id": v.id}),
            );
        }
    }
    Ok(map)
}

/// Trove's backup view, plus `checksum` and, for a failed backup, `fault`.
fn view(b: &Backup, datastores: &HashMap<String, Value>) -> Value {
    let mut v = json!({
        "id": b.id, "name": b.name, "description": b.description,
        "locationRef": b.location, "instance_id": b.taken_of(),
        "created": iso(b.created), "updated": iso(b.updated),
        "size": b.size_bytes.map(|s| s as f64 / GB),
        "status": b.state, "parent_id": b.parent_id, "project_id": b.tenant_id,
        "datastore": datastores.get(&b.datastore_version_id).cloned().unwrap_or(Value::Null),
        "checksum": b.checksum,
    });
    if let (true, Some(reason)) = (b.state.ends_with("FAILED"), &b.fail_reason) {
        v["fault"] = json!({"message": reason, "created": iso(b.updated)});
    }
    v
}

/// What a `POST /backups` asks for.
enum Requested {
    /// A backup of an instance.
    Take(CreateBackup),
    /// The registering of a backup already in the store (`restore_from`).
    Register(RegisterBackup),
}

/// Checks `POST /backups`.
fn create_request(body: &Value) -> Result<Requested, ApiError> {
    let top = object(body, "request body")?;
    let b = object(
        top.get("backup")
            .ok_or_else(|| bad("'backup' is a required property"))?,
        "backup",
    )?;
    if let Some(from) = b.get("restore_from").filter(|v| !v.is_null()) {
        return backup_registration::register_request(b, from).map(Requested::Register);
    }
    let incremental = match b.get("incremental") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(x)) => *x,
        Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => n.as_i64() == Some(1),
        Some(other) => return Err(bad(format!("{other} is not one of [0, 1] (incremental)"))),
    };
    Ok(Requested::Take(CreateBackup {
        name: name_field(b)?,
        instance_id: string_field(b, "instance")?.ok_or_else(|| bad("'instance' is a required property"))?,
        description: string_field(b, "description")?,
        parent_id: string_field(b, "parent_id")?,
        incremental,
    }))
}

fn backup_deadline_ms(state: &AppState) -> i64 {
    state.services.config.backup.timeout_s.as_millis() as i64
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/backups",
    operation_id = "create_backup",
    params(Tenant),
    request_body = BackupCreateRequest,
    responses(
        (status = 202, description = "The backup, NEW (it is taken in the background); or, with `restore_from`, the registered backup, RESTORED.", body = BackupBody),
        (status = 501, description = "An incremental backup of a datastore that has none.", body = Fault),
    ),
)]
pub async fn create_backup(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let request = match create_request(&body)? {
        Requested::Take(request) => request,
        Requested::Register(request) => {
            let b = backup_registration::register(&state, path.into_inner(), request).await?;
            let (datastores, b) = state
                .db
                .run(move |c| Ok((datastores_of(c, std::slice::from_ref(&b))?, b)))
                .await?;
            return Ok(HttpResponse::Accepted().json(json!({"backup": view(&b, &datastores)})));
        }
    };
    // An admin backs up any project's instance; the backup is the instance's project's.
    let tenant = match super::auth::acts_across_projects(&req) {
        true => {
            let id = request.instance_id.clone();
            let owner = state.db.run(move |c| Instance::find(c, &id)).await?;
            owner.map(|i| i.tenant_id).unwrap_or_else(|| path.into_inner())
        }
        false => path.into_inner(),
    };
    let expiry = state.services.config.guest.heartbeat_expiry_s.as_millis() as i64;
    let (deadline, limits) = (
        backup_deadline_ms(&state),
        crate::db::models::quota::Defaults::from(&state.services.config.quota),
    );
    let (b, flow, datastores) = state
        .db
        .run(move |c| {
            let made = backups::create_backup(c, &tenant, &request, expiry, deadline, &limits);
            Ok(match made {
                Ok((b, flow)) => {
                    let ds = datastores_of(c, std::slice::from_ref(&b))?;
                    Ok((b, flow, ds))
                }
                Err(e) => Err(e),
            })
        })
        .await??;
    tracing::info!(backup.id = %b.id, instance.id = %b.instance_id, "backup {} requested", b.id);
    cast_flow(&state, &flow).await;
    Ok(HttpResponse::Accepted().json(json!({"backup": view(&b, &datastores)})))
}

/// `GET /backups` filters.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    instance_id: Option<String>,
    datastore: Option<String>,
    all_projects: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

async fn list(
    state: &AppState,
    req: &HttpRequest,
    mut filter: BackupFilter,
    datastore: Option<String>,
    page: &PageQuery,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit(state.services.config.api.page_size)?;
    let offset = match &page.marker {
        None => 0,
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(format!("The backup marker is an offset, not {m:?}.")))?,
    };
    let (items, more, datastores) = state
        .db
        .run(move |c| {
            if let Some(ds) = datastore {
                let versions = match Datastore::find_by_id_or_name(c, &ds)? {
                    Some(d) => DatastoreVersion::for_datastore(c, &d.id)?
                        .into_iter()
                        .map(|v| v.id)
                        .collect(),
                    None => Vec::new(),
                };
                filter.datastore_version_ids = Some(versions);
            }
            let mut items = Backup::list(c, &filter, limit + 1, offset)?;
            let more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let ds = datastores_of(c, &items)?;
            Ok((items, more, ds))
        })
        .await?;
    let views: Vec<Value> = items.iter().map(|b| view(b, &datastores)).collect();
    let mut body = json!({"backups": views});
    if more {
        body["links"] = links::next_page(req, limit, &(offset + limit).to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/backups",
    operation_id = "list_backups",
    params(Tenant, BackupFilters, BackupPage),
    responses((status = 200, description = "One page of the project's backups.", body = BackupList)),
)]
pub async fn list_backups(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let all = query.all_projects.as_deref().is_some_and(|v| v != "false" && v != "0");
    if all && !auth::is_admin(&req) {
        return Err(ApiError::Forbidden("all_projects is for admins only.".into()));
    }
    let filter = BackupFilter {
        tenant: (!all).then(|| path.into_inner()),
        // Blank names no instance (registered backups have none).
        instance_id: query.instance_id.filter(|i| !i.is_empty()),
        datastore_version_ids: None,
    };
    list(&state, &req, filter, query.datastore, &query.page).await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/backups",
    operation_id = "list_instance_backups",
    params(TenantInstance, BackupPage),
    responses((status = 200, description = "One page of the instance's backups.", body = BackupList)),
)]
pub async fn list_instance_backups(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let (owner, lookup) = (tenant.clone(), id.clone());
    let found = state.db.run(move |c| Instance::find_owned(c, &owner, &lookup)).await?;
    if found.is_none() {
        return Err(ApiError::NotFound(format!("Instance {id} could not be found.")));
    }
    let filter = BackupFilter {
        tenant: Some(tenant),
        instance_id: Some(id),
        datastore_version_ids: None,
    };
    list(&state, &req, filter, None, &query).await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/backups/{id}",
    operation_id = "show_backup",
    params(TenantResource),
    responses((status = 200, description = "The backup.", body = BackupBody)),
)]
pub async fn show_backup(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let owner = Some(tenant);
    let lookup = id.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(b) = Backup::find_for(c, owner.as_deref(), &lookup)? else {
                return Ok(None);
            };
            let ds = datastores_of(c, std::slice::from_ref(&b))?;
            Ok(Some((b, ds)))
        })
        .await?;
    let (b, ds) = found.ok_or_else(|| ApiError::NotFound(format!("Backup {id} could not be found.")))?;
    Ok(HttpResponse::Ok().json(json!({"backup": view(&b, &ds)})))
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/backups/{id}",
    operation_id = "delete_backup",
    params(TenantResource),
    responses((status = 202, description = "The backup, and those chained on it, are being deleted.")),
)]
pub async fn delete_backup(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let owner = Some(tenant);
    let deadline = backup_deadline_ms(&state);
    let flow = state
        .db
        .run(move |c| Ok(backups::delete_backup(c, owner.as_deref(), &id, deadline)))
        .await??;
    if let Some(flow) = flow {
        cast_flow(&state, &flow).await;
    }
    Ok(HttpResponse::Accepted().finish())
}

/// Trove's `/backup_strategies` pick a swift container per project or instance; coffer's backup
/// store is one, configured in `[backup]`, so there are never any: the list is empty, a new one
/// cannot be carried out (422), and deleting them deletes nothing (202, as Trove answers).
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/backup_strategies",
    operation_id = "list_backup_strategies",
    params(Tenant),
    responses((status = 200, description = "Always an empty list.", body = BackupStrategyList)),
)]
pub async fn list_backup_strategies() -> HttpResponse {
    HttpResponse::Ok().json(json!({"backup_strategies": []}))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/backup_strategies",
    operation_id = "create_backup_strategy",
    params(Tenant),
    request_body = BackupStrategyRequest,
    responses((status = 422, description = "Always: the backup store is configured in `[backup]`, not per project.", body = Fault)),
)]
pub async fn create_backup_strategy() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unprocessable(
        "Backup strategies (swift containers) do not apply: the backup store is configured in [backup].".into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/backup_strategies",
    operation_id = "delete_backup_strategies",
    params(Tenant),
    responses((status = 202, description = "Nothing to delete: there are never any strategies.")),
)]
pub async fn delete_backup_strategies() -> HttpResponse {
    HttpResponse::Accepted().finish()
}
