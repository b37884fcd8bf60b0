//! `/mgmt/instances/{id}` (admin): any project's instance by id — its view with the admin's
//! fields, and Trove's mgmt actions `reset-task-status` and `rebuild`.

use super::flow_casts::{cast_flow, expiry_ms, ms};
use super::input::Body;
use super::instances::show;
use super::openapi::fault::Fault;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::instances::{InstanceBody, MgmtInstanceActionRequest};
use super::AppState;
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use crate::intents;
use actix_web::{web, HttpRequest, HttpResponse};

/// The project owning instance `id` (any project's), or 404.
async fn owner_of(state: &AppState, id: &str) -> Result<String, ApiError> {
    let lookup = id.to_string();
    let found = state.db.run(move |c| Instance::find(c, &lookup)).await?;
    found
        .map(|i| i.tenant_id)
        .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))
}

/// `GET /mgmt/instances/{id}`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/instances/{id}",
    operation_id = "show_any_instance",
    params(TenantInstance),
    responses((status = 200, description = "Any project's instance, with the admin's keys.", body = InstanceBody)),
)]
pub async fn show_any(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let owner = owner_of(&state, &id).await?;
    show(&state, &req, owner, id).await
}

/// `POST /mgmt/instances/{id}/action` with exactly one of Trove's mgmt actions.
#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/mgmt/instances/{id}/action",
    operation_id = "act_on_any_instance",
    params(TenantInstance),
    request_body = MgmtInstanceActionRequest,
    responses(
        (status = 202, description = "The task is reset, or the rebuild is under way."),
        (status = 501, description = "`stop`, `reboot` and `migrate` are not implemented.", body = Fault),
    ),
)]
pub async fn act_on_any(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let actions = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::BadRequest("The body names exactly one mgmt action.".into()))?;
    let action = actions.keys().next().cloned().unwrap_or_default();
    let owner = owner_of(&state, &id).await?;
    match action.as_str() {
        "reset-task-status" => {
            state
                .db
                .run(move |c| Ok(intents::reset_task_status(c, &owner, &id)))
                .await??;
            Ok(HttpResponse::Accepted().finish())
        }
        "rebuild" => {
            let image_id = actions["rebuild"]
                .get("image_id")
                .and_then(|v| v.as_str())
                .filter(|v| uuid::Uuid::parse_str(v).is_ok())
                .ok_or_else(|| ApiError::BadRequest("rebuild needs an 'image_id' that is a UUID.".into()))?
                .to_string();
            let expiry = expiry_ms(&state);
            let deadline = ms(state.services.config.taskmanager.resize_timeout_s);
            let flow = state
                .db
                .run(move |c| Ok(intents::updates::rebuild_instance(c, &id, &image_id, expiry, deadline)))
                .await??;
            tracing::info!(instance.id = %flow.target_id, project = %owner, "rebuild requested");
            cast_flow(&state, &flow).await;
            Ok(HttpResponse::Accepted().finish())
        }
        "stop" | "reboot" | "migrate" => Err(ApiError::NotImplemented(format!(
            "The mgmt action {action} is not implemented yet."
        ))),
        other => Err(ApiError::BadRequest(format!("Invalid mgmt action: {other}."))),
    }
}
