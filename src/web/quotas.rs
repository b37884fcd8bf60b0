//! `GET /limits` and `GET/PUT /mgmt/quotas/{project}` in Trove's shapes.

use super::auth;
use super::input::Body;
use super::openapi::params::Tenant;
use super::openapi::schemas::quotas::{LimitList, QuotaList, QuotaUpdateBody};
use super::AppState;
use crate::db::models::identity::Project;
use crate::db::models::quota::{self, RESOURCES};
use crate::db::write_tx;
use crate::error::ApiError;
use crate::identity::DEFAULT_DOMAIN;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// The caller's project (the URL's tenant, already checked against the token).
fn caller_project(req: &HttpRequest) -> Result<String, ApiError> {
    auth::caller(req).map(|c| c.project_id.into_string())
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/limits",
    params(Tenant),
    responses((status = 200, description = "The project's absolute limits.", body = LimitList)),
)]
pub async fn list_limits(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let project = caller_project(&req)?;
    let defaults = crate::db::models::quota::Defaults::from(&state.services.config.quota);
    let limits = state
        .db
        .run(move |c| {
            RESOURCES
                .iter()
                .map(|r| quota::limit(c, &defaults, &project, r))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut absolute = Map::new();
    absolute.insert("verb".into(), json!("ABSOLUTE"));
    for (resource, limit) in RESOURCES.iter().zip(limits) {
        absolute.insert(format!("max_{resource}"), json!(limit));
    }
    Ok(HttpResponse::Ok().json(json!({ "limits": [Value::Object(absolute)] })))
}

/// A project's quota rows; `NotFound` when identity is on and no such project exists (in
/// `noauth` mode projects are whatever URLs name).
fn quota_rows(
    state: &AppState,
    project: String,
) -> impl FnOnce(&mut crate::db::DbConn) -> Result<Value, crate::db::DbError> {
    let defaults = crate::db::models::quota::Defaults::from(&state.services.config.quota);
    let check_project = state.services.config.auth.mode != crate::config::AuthMode::Noauth;
    move |c| {
        require_project(c, &project, check_project)?;
        let mut rows = Vec::new();
        for resource in RESOURCES {
            let limit = quota::limit(c, &defaults, &project, resource)?;
            let in_use = quota::in_use(c, &project, resource)?;
            rows.push(json!({"resource": resource, "in_use": in_use, "reserved": 0, "limit": limit}));
        }
        Ok(json!({ "quotas": rows }))
    }
}

/// `GET /mgmt/quotas/{project}` by a non-admin: its own project's quotas only.
pub async fn show_own_quotas(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, project) = path.into_inner();
    if project != caller_project(&req)? {
        return Err(ApiError::Forbidden("This operation is allowed for admins only.".into()));
    }
    let body = state.db.run(quota_rows(&state, project)).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A project's quotas: each resource's limit and what is in use.
///
/// An admin reads any project's (an unknown one is 404). A caller without the admin role reads
/// its own project's only (the token's project); another project's is 403.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/quotas/{project}",
    params(Tenant, ("project" = String, Path, description = "The project's id.")),
    responses((status = 200, description = "The project's quotas.", body = QuotaList)),
)]
pub async fn show_quotas(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, project) = path.into_inner();
    let body = state
        .db
        .run(quota_rows(&state, project.clone()))
        .await
        .map_err(|e| unknown_project(e, &project))?;
    Ok(HttpResponse::Ok().json(body))
}

/// `NotFound` when `check` (identity is on) and no project `project` exists.
fn require_project(c: &mut crate::db::DbConn, project: &str, check: bool) -> Result<(), crate::db::DbError> {
    if check {
        Project::find(c, Some(project), None, DEFAULT_DOMAIN)?.ok_or(diesel::result::Error::NotFound)?;
    }
    Ok(())
}

fn unknown_project(e: crate::db::DbError, project: &str) -> ApiError {
    match ApiError::from(e) {
        ApiError::NotFound(_) => ApiError::NotFound(format!("Project {project} could not be found.")),
        other => other,
    }
}

/// `{"quotas": {"instances": 5, …}}`; -1 is unlimited, below -1 is refused.
#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/mgmt/quotas/{project}",
    params(Tenant, ("project" = String, Path, description = "The project's id.")),
    request_body = QuotaUpdateBody,
    responses((status = 200, description = "The project's quotas, as changed.", body = QuotaList)),
)]
pub async fn update_quotas(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (_, project) = path.into_inner();
    let wanted = body
        .get("quotas")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::BadRequest("'quotas' is a required property".into()))?;
    let mut limits = Vec::new();
    for (resource, value) in wanted {
        if !RESOURCES.contains(&resource.as_str()) {
            return Err(ApiError::BadRequest(format!("Unknown quota resource {resource}.")));
        }
        let limit = value
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= -1)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("The limit of {resource} must be an integer of -1 or more."))
            })?;
        limits.push((resource.clone(), limit));
    }
    let target = project.clone();
    let check_project = state.services.config.auth.mode != crate::config::AuthMode::Noauth;
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                require_project(c, &target, check_project)?;
                for (resource, limit) in &limits {
                    quota::set_limit(c, &target, resource, *limit)?;
                }
                Ok(())
            })
        })
        .await
        .map_err(|e| unknown_project(e, &project))?;
    let body = state.db.run(quota_rows(&state, project)).await?;
    Ok(HttpResponse::Ok().json(body))
}
