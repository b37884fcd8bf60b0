//! `/instances/{id}/users` and `/instances/{id}/root`: an instance's users, their access to
//! databases, their passwords, and the datastore's superuser (Trove's "Mysql" extension).
//! Users are addressed as `name` or `name@host` (host `%` by default).

use super::acting::Acting;
use super::databases::{self, page};
use super::guest_calls::{self, split_user, Ready, Timeout};
use super::input::Body;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::accounts::{
    PasswordChangeRequest, RootCredentialsBody, RootStatus, UserAccessList, UserAccessRequest, UserBody,
    UserCreateRequest, UserList, UserUpdateRequest,
};
use super::{validate, AppState, PageQuery};
use crate::error::ApiError;
use crate::guest::messages::{encode, Grant, OneUser, Revoke, UpdateAttributes, Users};
use crate::guest::UserSpec;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

fn user_view(u: &UserSpec) -> Value {
    json!({
        "name": u.name,
        "host": u.host.clone().unwrap_or_else(|| "%".into()),
        "databases": u.databases.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
    })
}

async fn current(state: &AppState, instance_id: &str) -> Result<Vec<UserSpec>, ApiError> {
    let listed = guest_calls::call(state, instance_id, "list_users", json!({}), Timeout::High).await?;
    serde_json::from_value(listed).map_err(|e| ApiError::Internal(format!("list_users answer: {e}")))
}

/// The named user, 404 when the instance has none such; reserved names are refused first.
async fn existing(state: &AppState, ready: &Ready, segment: &str) -> Result<UserSpec, ApiError> {
    let (name, _host) = split_user(segment);
    ready.rules.check_user(&name)?;
    current(state, &ready.record.instance.id)
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("User {name} could not be found.")))
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::BadRequest("The body must be an object.".into()))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/users",
    operation_id = "list_users",
    params(TenantInstance, PageQuery),
    responses((status = 200, description = "One page of the instance's users, by name.", body = UserList)),
)]
pub async fn list_users(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    guest_calls::ready_for_accounts(&state, tenant, id.clone()).await?;
    let size = state.services.config.api.page_size;
    let (items, more) = page(current(&state, &id).await?, |u| &u.name, &query, size)?;
    let mut body = json!({ "users": items.iter().map(user_view).collect::<Vec<_>>() });
    if let (true, Some(last)) = (more, items.last()) {
        body["links"] = super::links::next_page(&req, query.limit(size)?, &last.name);
    }
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances/{id}/users",
    operation_id = "create_users",
    params(TenantInstance),
    request_body = UserCreateRequest,
    responses((status = 202, description = "The guest created the users.")),
)]
pub async fn create_users(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let obj = body_object(&body)?;
    if !obj.contains_key("users") {
        return Err(ApiError::BadRequest("'users' is a required property".into()));
    }
    let wanted = validate::users_field(obj)?;
    if wanted.is_empty() {
        return Err(ApiError::BadRequest("'users' must name at least one user".into()));
    }
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let dbs = databases::current(&state, &id).await?;
    for user in &wanted {
        ready.rules.check_user(&user.name)?;
        if let Some(missing) = user.databases.iter().find(|d| !dbs.iter().any(|db| &db.name == *d)) {
            return Err(ApiError::BadRequest(format!(
                "Database {missing} does not exist on the instance."
            )));
        }
    }
    let existing = current(&state, &id).await?;
    if let Some(dup) = wanted.iter().find(|w| existing.iter().any(|e| e.name == w.name)) {
        return Err(ApiError::BadRequest(format!("User {} already exists.", dup.name)));
    }
    guest_calls::accepted(&state, &id, "create_user", encode(&Users { users: wanted })).await
}

/// `PUT /users`: `{"users": [{"name", "password"}]}` changes passwords.
#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/instances/{id}/users",
    operation_id = "change_passwords",
    params(TenantInstance),
    request_body = PasswordChangeRequest,
    responses((status = 202, description = "The guest changed the passwords.")),
)]
pub async fn change_passwords(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let users = validate::users_field(body_object(&body)?)?;
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let existing = current(&state, &id).await?;
    for user in &users {
        ready.rules.check_user(&user.name)?;
        if !existing.iter().any(|e| e.name == user.name) {
            return Err(ApiError::NotFound(format!("User {} could not be found.", user.name)));
        }
    }
    guest_calls::accepted(&state, &id, "change_passwords", encode(&Users { users })).await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}",
    operation_id = "show_user",
    params(TenantInstance, ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted).")),
    responses((status = 200, description = "The user.", body = UserBody)),
)]
pub async fn show_user(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment) = path.into_inner();
    let tenant = acting.project();
    let ready = guest_calls::ready_for_accounts(&state, tenant, id).await?;
    let user = existing(&state, &ready, &segment).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user_view(&user) })))
}

/// `PUT /users/{user}`: `{"user": {"name"?, "host"?, "password"?}}` renames the user, moves it
/// to another host and/or sets its password in one call, keeping its grants (Trove's
/// `update_attributes`); 404 for an unknown user, 400 when the new name is taken.
#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}",
    operation_id = "update_user",
    params(TenantInstance, ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted).")),
    request_body = UserUpdateRequest,
    responses((status = 202, description = "The guest changed the user.")),
)]
pub async fn update_user(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment) = path.into_inner();
    let tenant = acting.project();
    let change = validate::user_change(&body)?;
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let user = existing(&state, &ready, &segment).await?;
    if let Some(name) = change.name.as_deref().filter(|n| *n != user.name) {
        ready.rules.check_user(name)?;
        if current(&state, &id).await?.iter().any(|u| u.name == name) {
            return Err(ApiError::BadRequest(format!("User {name} already exists.")));
        }
    }
    let args = encode(&UpdateAttributes {
        username: user.name,
        hostname: user.host,
        user_attrs: change,
    });
    guest_calls::accepted(&state, &id, "update_attributes", args).await
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}",
    operation_id = "delete_user",
    params(TenantInstance, ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted).")),
    responses((status = 202, description = "The guest dropped the user.")),
)]
pub async fn delete_user(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment) = path.into_inner();
    let tenant = acting.project();
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let user = existing(&state, &ready, &segment).await?;
    let user = UserSpec {
        name: user.name,
        host: user.host,
        ..UserSpec::default()
    };
    let args = encode(&OneUser { user });
    guest_calls::accepted(&state, &id, "delete_user", args).await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}/databases",
    operation_id = "list_user_access",
    params(TenantInstance, ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted).")),
    responses((status = 200, description = "The databases the user may use.", body = UserAccessList)),
)]
pub async fn list_user_access(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment) = path.into_inner();
    let tenant = acting.project();
    let ready = guest_calls::ready_for_accounts(&state, tenant, id).await?;
    let user = existing(&state, &ready, &segment).await?;
    let dbs: Vec<Value> = user.databases.iter().map(|d| json!({"name": d})).collect();
    Ok(HttpResponse::Ok().json(json!({ "databases": dbs })))
}

#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}/databases",
    operation_id = "grant_user_access",
    params(TenantInstance, ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted).")),
    request_body = UserAccessRequest,
    responses((status = 202, description = "The guest granted the access.")),
)]
pub async fn grant_user_access(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment) = path.into_inner();
    let tenant = acting.project();
    let wanted = validate::databases_field(body_object(&body)?)?;
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let user = existing(&state, &ready, &segment).await?;
    let dbs = databases::current(&state, &id).await?;
    for db in &wanted {
        ready.rules.check_database(&db.name)?;
        if !dbs.iter().any(|d| d.name == db.name) {
            return Err(ApiError::NotFound(format!("Database {} could not be found.", db.name)));
        }
    }
    let names: Vec<&str> = wanted.iter().map(|d| d.name.as_str()).collect();
    let args = encode(&Grant {
        username: user.name,
        hostname: user.host,
        databases: names.into_iter().map(str::to_string).collect(),
    });
    guest_calls::accepted(&state, &id, "grant_access", args).await
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}/users/{user}/databases/{db}",
    operation_id = "revoke_user_access",
    params(
        TenantInstance,
        ("user" = String, Path, description = "The user's name or `name@host` (URL-quoted)."),
        ("db" = String, Path, description = "The database's name.")
    ),
    responses((status = 202, description = "The guest revoked the access.")),
)]
pub async fn revoke_user_access(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id, segment, database) = path.into_inner();
    let tenant = acting.project();
    let ready = guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let user = existing(&state, &ready, &segment).await?;
    if !user.databases.contains(&database) {
        return Err(ApiError::NotFound(format!(
            "User {} has no access to database {database}.",
            user.name
        )));
    }
    let args = encode(&Revoke {
        username: user.name,
        hostname: user.host,
        database,
    });
    guest_calls::accepted(&state, &id, "revoke_access", args).await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/root",
    operation_id = "show_root",
    params(TenantInstance),
    responses((status = 200, description = "Whether root was ever enabled.", body = RootStatus)),
)]
pub async fn show_root(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let record = guest_calls::ready_for_guest(&state, tenant, id.clone()).await?;
    if crate::guest::rules::for_manager(&record.version.manager).is_none() {
        // A datastore without users (Redis) got its password at create: Trove's root_on_create.
        return Ok(HttpResponse::Ok().json(json!({ "rootEnabled": true })));
    }
    let enabled = guest_calls::call(&state, &id, "is_root_enabled", json!({}), Timeout::Low).await?;
    Ok(HttpResponse::Ok().json(json!({ "rootEnabled": enabled.as_bool().unwrap_or(false) })))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances/{id}/root",
    operation_id = "enable_root",
    params(TenantInstance),
    responses((status = 200, description = "Root is enabled with a new password.", body = RootCredentialsBody)),
)]
pub async fn enable_root(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    let password = guest_calls::call(&state, &id, "enable_root", json!({}), Timeout::High).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": {"name": "root", "password": password} })))
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}/root",
    operation_id = "disable_root",
    params(TenantInstance),
    responses((status = 204, description = "Root is disabled.")),
)]
pub async fn disable_root(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    guest_calls::ready_for_account_writes(&state, tenant, id.clone()).await?;
    guest_calls::call(&state, &id, "disable_root", json!({}), Timeout::High).await?;
    Ok(HttpResponse::NoContent().finish())
}
