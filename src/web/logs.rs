//! `GET/POST /instances/{id}/log`: the datastore's logs (Trove's `guest_log_list` and
//! `guest_log_action`): list them, switch a USER log on or off, publish one to the object store,
//! discard what was published. What `openstack database log list/show/enable/disable/publish`
//! sends.

use super::acting::Acting;
use super::guest_calls::{self, Timeout};
use super::input::Body;
use super::openapi::fault::Fault;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::guest_logs::{GuestLogActionRequest, GuestLogBody, GuestLogList};
use super::AppState;
use crate::error::ApiError;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

/// The datastore's logs (the instance must be ACTIVE).
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/log",
    params(TenantInstance),
    responses(
        (status = 200, description = "The instance's logs.", body = GuestLogList),
        (status = 422, description = "The instance is not ready for an action (not ACTIVE).", body = Fault),
    ),
)]
pub async fn list_logs(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    guest_calls::ready_for_guest(&state, acting.project(), id.clone()).await?;
    let logs = guest_calls::call(&state, &id, "guest_log_list", json!({}), Timeout::Low).await?;
    Ok(HttpResponse::Ok().json(json!({ "logs": logs })))
}

/// A flag of the action body: absent, a boolean, or 0/1 (what the clients send).
fn flag(body: &serde_json::Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => Ok(n.as_u64() == Some(1)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{other} is not a valid value for '{key}' (0 or 1)"
        ))),
    }
}

/// Switches a log on or off, publishes it, or discards what was published.
#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances/{id}/log",
    params(TenantInstance),
    request_body = GuestLogActionRequest,
    responses(
        (status = 200, description = "The log after the action.", body = GuestLogBody),
        (status = 501, description = "The datastore's guest does not act on logs.", body = Fault),
    ),
)]
pub async fn act_on_log(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The body must be an object.".into()))?;
    let name = match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() && n.len() <= 64 => n.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "'name' is a required string (a log's name)".into(),
            ))
        }
    };
    let (enable, disable) = (flag(obj, "enable")?, flag(obj, "disable")?);
    let (publish, discard) = (flag(obj, "publish")?, flag(obj, "discard")?);
    if enable && disable {
        return Err(ApiError::BadRequest(
            "A log cannot be enabled and disabled at once.".into(),
        ));
    }
    guest_calls::ready_for_guest(&state, acting.project(), id.clone()).await?;
    let logs = guest_calls::call(&state, &id, "guest_log_list", json!({}), Timeout::Low).await?;
    let known = logs
        .as_array()
        .is_some_and(|l| l.iter().any(|log| log["name"] == name.as_str()));
    if !known {
        return Err(ApiError::NotFound(format!(
            "Log {name} could not be found on instance {id}."
        )));
    }
    let args = json!({"log_name": name, "enable": enable, "disable": disable, "publish": publish, "discard": discard});
    let log = guest_calls::call(&state, &id, "guest_log_action", args, Timeout::High).await?;
    Ok(HttpResponse::Ok().json(json!({ "log": log })))
}
