//! `/instances`: create, list, show, delete, and actions (restart).
//!
//! Writes record their intent in one transaction (see [`crate::intents`]) and then cast to the
//! task manager; `show` asks the guest for its volume usage with a short timeout.

use super::acting::Acting;
use super::input::Body;
use super::{auth, links, validate, views, AppState, PageQuery};
use crate::bus;
use crate::db::models::backup::Backup;
use crate::db::models::configuration::Configuration;
use crate::db::models::fault::InstanceFault;
use crate::db::models::flow::Flow;
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use crate::intents;
use crate::testing::Fault;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub(super) fn ms(duration: std::time::Duration) -> i64 {
    duration.as_millis() as i64
}

pub(super) fn expiry_ms(state: &AppState) -> i64 {
    ms(state.services.config.guest.heartbeat_expiry_s)
}

/// Wakes the task manager for a recorded flow. A failed (or test-dropped) cast only delays the
/// work: the task manager's scan finds the flow.
pub(super) async fn cast_flow(state: &AppState, flow: &Flow) {
    let services = &state.services;
    let Some(kind) = flow.flow_kind() else { return };
    let method = kind.method();
    if services
        .faults
        .take(&flow.kind, &flow.id, 0, &[Fault::DropCast])
        .is_some()
    {
        tracing::warn!(flow.id = %flow.id, "test fault: dropping the {method} cast");
        return;
    }
    let mut envelope = crate::flows::WakeUp::envelope(kind, &flow.target_id);
    envelope.context.global_request_id = flow.request_id.clone();
    if let Err(e) = services.bus.cast(bus::TASKMANAGER, envelope).await {
        crate::telemetry::warn_limited(
            "task manager cast",
            &format!(
                "cast {method} of flow {} failed, the scan will find the flow: {e}",
                flow.id
            ),
        );
    }
}

pub async fn create_instance(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = path.into_inner();
    let mut request = validate::create_instance(&body)?;
    request.flavor_id = validate::flavor_key(&request.flavor_id, &links::base(&req), &tenant)?;
    let timeout = match &request.restore_backup_id {
        Some(backup_id) => {
            check_backup_objects(&state, &tenant, backup_id).await?;
            ms(state.services.config.backup.restore_timeout_s)
        }
        None => ms(state.services.config.taskmanager.usage_timeout_s),
    };
    let owner = tenant.clone();
    let secrets = state.services.secrets.clone();
    let limits = crate::db::models::quota::Defaults::from(&state.services.config.quota);
    let expiry = expiry_ms(&state);
    let created = state
        .db
        .run(move |c| {
            Ok(intents::create_instance(
                c, &owner, &request, timeout, &secrets, &limits, expiry,
            ))
        })
        .await??;
    for made in &created {
        let id = &made.record.instance.id;
        tracing::info!(instance.id = %id, tenant.id = %tenant, "instance {id} requested");
        cast_flow(&state, &made.flow).await;
    }
    // Several replicas of one create: Trove answers with the first.
    let intents::Created { record, password, .. } = created
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a create recorded no instance".into()))?;
    let group = match record.instance.configuration_id.clone() {
        Some(g) => state.db.run(move |c| Configuration::find(c, None, &g)).await?,
        None => None,
    };
    let base = links::base(&req);
    let mut view = views::instance(&base, &record, expiry_ms(&state), auth::is_admin(&req));
    view = views::with_configuration(view, &base, &tenant, group.map(|g| (g.id, g.name)));
    if let Some(password) = password {
        view["password"] = json!(password);
    }
    Ok(HttpResponse::Ok().json(json!({ "instance": view })))
}

/// Trove's restore check that the backup's files exist (404 otherwise); the backup's other
/// checks run in the create's transaction.
async fn check_backup_objects(state: &AppState, tenant: &str, backup_id: &str) -> Result<(), ApiError> {
    let (owner, id) = (tenant.to_string(), backup_id.to_string());
    let chain = state
        .db
        .run(move |c| match Backup::find_for(c, Some(&owner), &id)? {
            Some(_) => Backup::chain(c, &id).map(Some),
            None => Ok(None),
        })
        .await
        .map_err(|e| ApiError::Conflict(format!("Backup {backup_id} cannot be restored: {e}")))?;
    for b in chain.unwrap_or_default() {
        let Some(key) = &b.object_key else { continue };
        if !state
            .services
            .backup_store
            .exists(key)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
        {
            return Err(ApiError::NotFound(format!(
                "The file of backup {} is missing from the backup store.",
                b.id
            )));
        }
    }
    Ok(())
}

/// One page of instances (of `tenant`, or of all projects) as Trove's list body.
async fn list_page(
    state: &AppState,
    tenant: Option<String>,
    query: &PageQuery,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit(state.services.config.api.page_size)?;
    let marker = query.marker.clone();
    let catalog = state.caches.catalog(&state.db).await?;
    let page = state
        .db
        .run(move |c| Instance::list_page(c, &catalog, tenant.as_deref(), limit, marker.as_deref()))
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::NotFound(_) => ApiError::BadRequest("The marker is not an instance of this project.".into()),
            other => other,
        })?;
    let (base, expiry, admin) = (links::base(req), expiry_ms(state), auth::is_admin(req));
    #[derive(serde::Serialize)]
    struct ListBody<'a> {
        instances: Vec<views::InstanceView<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        links: Option<Value>,
    }
    let body = ListBody {
        instances: page
            .items
            .iter()
            .map(|r| views::instance_view(&base, &views::ViewSource::listed(r, expiry), admin))
            .collect(),
        links: match (page.more, page.items.last()) {
            (true, Some(last)) => Some(links::next_page(req, limit, &last.instance.id)),
            _ => None,
        },
    };
    Ok(HttpResponse::Ok().json(body))
}

pub async fn list_instances(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, Some(path.into_inner()), &query, &req).await
}

/// `GET /instances/detail`: the same view as the list (Trove's detail list).
pub async fn list_instances_detail(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, Some(path.into_inner()), &query, &req).await
}

/// `GET /mgmt/instances`: every project's instances (admin), with tenant and server ids.
pub async fn list_all_instances(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, None, &query, &req).await
}

pub async fn show_instance(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    show(&state, &req, acting.project(), id).await
}

/// An instance's view as `GET /instances/{id}` answers it (also the admin's mgmt view).
pub(super) async fn show(
    state: &AppState,
    req: &HttpRequest,
    tenant: String,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let lookup = id.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(record) = Instance::find_record(c, &tenant, &lookup)? else {
                return Ok(None);
            };
            let fault = InstanceFault::latest(c, &lookup)?;
            let group = match &record.instance.configuration_id {
                Some(g) => Configuration::find(c, None, g)?.map(|g| (g.id, g.name)),
                None => None,
            };
            Ok(Some((record, fault, group)))
        })
        .await?;
    let (record, fault, group) =
        found.ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
    let base = links::base(req);
    let mut view = views::instance(&base, &record, expiry_ms(state), auth::is_admin(req));
    view = views::with_fault(view, fault.as_ref());
    view = views::with_configuration(view, &base, &record.instance.tenant_id, group);
    if view["status"] == "ACTIVE" && view.get("volume").is_some() {
        let timeout = state.services.config.api.show_guest_timeout_ms;
        let args = json!({"fs_path": null});
        match state
            .services
            .guests
            .call(&id, "get_filesystem_stats", args, timeout)
            .await
        {
            Ok(stats) => view["volume"]["used"] = stats.get("used").cloned().unwrap_or(json!(null)),
            Err(e) => tracing::debug!(instance.id = %id, "volume usage unavailable: {e}"),
        }
    }
    let member = record.instance.slave_of_id.is_some() || !record.replicas.is_empty();
    if member && auth::is_admin(req) {
        if let Some(replication) = super::replicas::member_state(state, &id).await {
            view["replication"] = replication;
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "instance": view })))
}

pub async fn delete_instance(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let deadline = ms(state.services.config.taskmanager.delete_timeout_s);
    let flow = state
        .db
        .run(move |c| Ok(intents::delete_instance(c, &tenant, &id, deadline)))
        .await??;
    if let Some(flow) = flow {
        tracing::info!(instance.id = %flow.target_id, "instance {} delete requested", flow.target_id);
        cast_flow(&state, &flow).await;
    }
    Ok(HttpResponse::Accepted().finish())
}

pub async fn act_on_instance(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    req: HttpRequest,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let action = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .ok_or_else(|| ApiError::BadRequest("Invalid instance action: the body names no action.".into()))?;
    match action.as_str() {
        "restart" => {
            let expiry = expiry_ms(&state);
            let deadline = ms(state.services.config.taskmanager.restart_timeout_s);
            let flow = state
                .db
                .run(move |c| Ok(intents::restart_instance(c, &tenant, &id, expiry, deadline)))
                .await??;
            cast_flow(&state, &flow).await;
            Ok(HttpResponse::Accepted().finish())
        }
        "resize" => {
            let resize = match validate::resize(&body["resize"])? {
                intents::Resize::Flavor(reference) => {
                    intents::Resize::Flavor(validate::flavor_key(&reference, &links::base(&req), &tenant)?)
                }
                volume => volume,
            };
            let expiry = expiry_ms(&state);
            let deadline = ms(state.services.config.taskmanager.resize_timeout_s);
            let limits = crate::db::models::quota::Defaults::from(&state.services.config.quota);
            let flows = state
                .db
                .run(move |c| {
                    Ok(intents::resize_instance(
                        c, &tenant, &id, &resize, expiry, deadline, &limits,
                    ))
                })
                .await??;
            for flow in &flows {
                cast_flow(&state, flow).await;
            }
            Ok(HttpResponse::Accepted().finish())
        }
        "reset_status" => {
            if !auth::is_admin(&req) {
                return Err(ApiError::Forbidden("reset_status is allowed for admins only.".into()));
            }
            state
                .db
                .run(move |c| Ok(intents::reset_status(c, &tenant, &id)))
                .await??;
            Ok(HttpResponse::Accepted().finish())
        }
        "promote_to_replica_source" | "eject_replica_source" => {
            let failover = action == "eject_replica_source";
            super::replicas::switch(&state, tenant, id, failover).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        other => Err(ApiError::BadRequest(format!("Invalid instance action: {other}"))),
    }
}
