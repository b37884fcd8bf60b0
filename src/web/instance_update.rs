//! `PUT /instances/{id}` and `PATCH /instances/{id}` (Trove's update and its deprecated alias
//! edit): `name`, plus at most one of `replica_of`/`slave_of` (detach a replica), `configuration`
//! (attach or, absent, detach a group), `datastore_version` (upgrade, a flow) and `access`
//! (applied by the guest, a flow). A rename is the database's alone. A replica detach is a flow
//! (see [`super::replicas`]).

use super::acting::Acting;
use super::flow_casts::{cast_flow, expiry_ms, ms};
use super::input::Body;
use super::openapi::fault::Fault;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::instances::InstanceUpdateRequest;
use super::{validate, AppState};
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use crate::intents::{configurations, updates};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

/// The attributes besides `name` an update may carry (one at a time).
const ONE_OF: [&str; 5] = ["replica_of", "slave_of", "configuration", "datastore_version", "access"];

/// `PATCH`: Trove's edit, the same attributes as `PUT`.
#[utoipa::path(
    patch,
    path = "/v1.0/{tenant_id}/instances/{id}",
    params(TenantInstance),
    request_body = InstanceUpdateRequest,
    responses(
        (status = 202, description = "Renamed, and the change (if any) is under way."),
        (status = 501, description = "The host cannot enforce the `allowed_cidrs` asked for.", body = Fault),
    ),
)]
pub async fn edit_instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    update_instance(req, state, path, body, acting).await
}

/// Renames, detaches from its source, attaches or detaches a configuration group, upgrades, or
/// changes the access rules.
#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/instances/{id}",
    params(TenantInstance),
    request_body = InstanceUpdateRequest,
    responses(
        (status = 202, description = "Renamed, and the change (if any) is under way."),
        (status = 501, description = "The host cannot enforce the `allowed_cidrs` asked for.", body = Fault),
    ),
)]
pub async fn update_instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let attrs = body
        .get("instance")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::BadRequest("'instance' is a required property".into()))?;
    if let Some(unknown) = attrs.keys().find(|k| *k != "name" && !ONE_OF.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "Additional properties are not allowed ('{unknown}' was unexpected)"
        )));
    }
    let name = match attrs.contains_key("name") {
        true => Some(validate::name_field(attrs)?),
        false => None,
    };
    let others: Vec<&str> = ONE_OF.iter().copied().filter(|k| attrs.contains_key(*k)).collect();
    if others.len() > 1 {
        return Err(ApiError::BadRequest(
            "Only one attribute besides name is allowed per request.".into(),
        ));
    }
    let (lookup, owner) = (id.clone(), tenant.clone());
    let found = state.db.run(move |c| Instance::find_owned(c, &owner, &lookup)).await?;
    found.ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
    match others.first().copied() {
        Some(key @ ("replica_of" | "slave_of")) => match attrs.get(key) {
            Some(Value::Null) => super::replicas::detach(&state, tenant, id.clone()).await?,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "'{key}' only detaches a replica: it must be null"
                )))
            }
        },
        Some("configuration") => {
            let group = super::configurations::configuration_field(attrs)?.flatten();
            configure(&state, &tenant, &id, group).await?;
        }
        Some("access") => {
            let access = attrs.get("access").cloned().unwrap_or_default();
            validate::access(&access)?;
            let (expiry, deadline) = (
                expiry_ms(&state),
                ms(state.services.config.taskmanager.restart_timeout_s),
            );
            let flow = state
                .db
                .run({
                    let id = id.clone();
                    move |c| Ok(updates::update_access(c, &tenant, &id, access, expiry, deadline))
                })
                .await??;
            cast_flow(&state, &flow).await;
        }
        Some(_) => {
            let version = match attrs.get("datastore_version") {
                Some(Value::String(v)) if !v.trim().is_empty() => v.clone(),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "{} is not a datastore version name or id (datastore_version)",
                        other.cloned().unwrap_or_default()
                    )))
                }
            };
            let (expiry, deadline) = (
                expiry_ms(&state),
                ms(state.services.config.taskmanager.resize_timeout_s),
            );
            let flow = state
                .db
                .run({
                    let id = id.clone();
                    move |c| Ok(updates::upgrade_instance(c, &tenant, &id, &version, expiry, deadline))
                })
                .await??;
            cast_flow(&state, &flow).await;
        }
        // An empty update (PUT `{"instance": {}}`) detaches the group; a rename, or any PATCH,
        // changes only what it names.
        None if req.method() == actix_web::http::Method::PUT && attrs.is_empty() => {
            configure(&state, &tenant, &id, None).await?
        }
        None => {}
    }
    rename(&state, &id, name).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Attaches `group` to the instance, or detaches its group when `None`; a configure flow brings
/// the server to it.
async fn configure(state: &AppState, tenant: &str, id: &str, group: Option<String>) -> Result<(), ApiError> {
    let (expiry, deadline) = (expiry_ms(state), super::configurations::deadline_ms(state));
    let (tenant, id) = (tenant.to_string(), id.to_string());
    let flow = state
        .db
        .try_run(move |c| match group {
            Some(group) => configurations::attach_configuration(c, &tenant, &id, &group, expiry, deadline).map(Some),
            None => configurations::detach_configuration(c, &tenant, &id, expiry, deadline),
        })
        .await?;
    if let Some(flow) = flow {
        cast_flow(state, &flow).await;
    }
    Ok(())
}

/// Renames the instance when a name was given.
async fn rename(state: &AppState, id: &str, name: Option<String>) -> Result<(), ApiError> {
    if let Some(name) = name {
        let id = id.to_string();
        state.db.run(move |c| Instance::rename(c, &id, &name)).await?;
    }
    Ok(())
}
