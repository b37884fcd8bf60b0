//! `/instances/{id}/databases`: list, create and delete an instance's databases (Trove's
//! "Mysql" extension, for every datastore that has databases).

use super::acting::Acting;
use super::guest_calls::{self, Timeout};
use super::input::Body;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::accounts::{DatabaseCreateRequest, DatabaseList};
use super::{validate, AppState, PageQuery};
use crate::error::ApiError;
use crate::guest::messages::{encode, Databases};
use crate::guest::DatabaseSpec;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// The instance's databases as the guest reports them.
pub async fn current(state: &AppState, instance_id: &str) -> Result<Vec<DatabaseSpec>, ApiError> {
    let listed = guest_calls::call(state, instance_id, "list_databases", json!({}), Timeout::Low).await?;
    serde_json::from_value(listed).map_err(|e| ApiError::Internal(format!("list_databases answer: {e}")))
}

/// One page of names after `marker`, and whether more follow.
pub fn page<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    query: &PageQuery,
    size: i64,
) -> Result<(Vec<T>, bool), ApiError> {
    let limit = query.limit(size)? as usize;
    let mut rest: Vec<T> = match &query.marker {
        Some(m) => items.into_iter().skip_while(|i| name(i) != m).skip(1).collect(),
        None => items,
    };
    let more = rest.len() > limit;
    rest.truncate(limit);
    Ok((rest, more))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/databases",
    operation_id = "list_databases",
    params(TenantInstance, PageQuery),
    responses((status = 200, description = "One page of the instance's databases, by name.", body = DatabaseList)),
)]
pub async fn list_databases(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    guest_calls::ready_for_accounts(&state, tenant, id.clone()).await?;
    let (items, more) = page(
        current(&state, &id).await?,
        |d| &d.name,
        &query,
        state.services.config.api.page_size,
    )?;
    // Trove shows the name; the character set and collation are added where the datastore
    // reports them (clients ignore keys they do not know).
    let list: Vec<Value> = items
        .iter()
        .map(|d| {
            let mut view = json!({"name": d.name});
            if let Some(cs) = &d.character_set {
                view["character_set"] = json!(cs);
            }
            if let Some(collate) = &d.collate {
                view["collate"] = json!(collate);
            }
            view
        })
        .collect();
    let mut body = json!({ "databases": list });
    if let (true, Some(last)) = (more, items.last()) {
        body["links"] = super::links::next_page(&req, query.limit(state.services.config.api.page_size)?, &last.name);
    }
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances/{id}/databases",
    operation_id = "create_databases",
    params(TenantInstance),
    request_body = DatabaseCreateRequest,
    responses((status = 202, description = "The guest created the databases.")),
)]
pub async fn create_databases(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The body must be an object.".into()))?;
    if !obj.contains_key("databases") {
        return Err(ApiError::BadRequest("'databases' is a required property".into()));
    }
    let wanted = validate::databases_field(obj)?;
    if wanted.is_empty() {
        return Err(ApiError::BadRequest(
            "'databases' must name at least one database".into(),
        ));
    }
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    for db in &wanted {
        ready.rules.check_database_spec(db)?;
    }
    let existing = current(&state, &id).await?;
    if let Some(dup) = wanted.iter().find(|w| existing.iter().any(|e| e.name == w.name)) {
        return Err(ApiError::BadRequest(format!("Database {} already exists.", dup.name)));
    }
    guest_calls::accepted(&state, &id, "create_database", encode(&Databases { databases: wanted })).await
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}/databases/{name}",
    operation_id = "delete_database",
    params(TenantInstance, ("name" = String, Path, description = "The database's name.")),
    responses((status = 202, description = "The guest dropped the database.")),
)]
pub async fn delete_database(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, name) = path.into_inner();
    let tenant = acting.project();
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    ready.rules.check_database(&name)?;
    if !current(&state, &id).await?.iter().any(|d| d.name == name) {
        return Err(ApiError::NotFound(format!("Database {name} could not be found.")));
    }
    let args = json!({"database": {"name": name}});
    guest_calls::accepted(&state, &id, "delete_database", args).await
}
