//! `/instances`: create, list, show, delete, and actions (restart).
//!
//! Writes record their intent in one transaction (see [`crate::intents`]) and then cast to the
//! task manager; `show` asks the guest for its volume usage with a short timeout.

use super::acting::Acting;
use super::flow_casts::{cast_flow, expiry_ms, ms};
use super::input::Body;
use super::openapi::fault::Fault as FaultBody;
use super::openapi::params::{Tenant, TenantInstance};
use super::openapi::schemas::instances::{InstanceActionRequest, InstanceBody, InstanceCreateRequest, InstanceList};
use super::{auth, links, validate, views, AppState, PageQuery};
use crate::db::models::backup::Backup;
use crate::db::models::configuration::Configuration;
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use crate::intents;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// Creates an instance (or `replica_count` replicas of `replica_of`, answering with the first).
#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances",
    params(Tenant),
    request_body = InstanceCreateRequest,
    responses(
        (status = 200, description = "The new instance, with a generated root password if any.", body = InstanceBody),
        (status = 501, description = "`cluster_config` is not supported.", body = FaultBody),
    ),
)]
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

/// One page of instances (of `tenant`, or of all projects) as Trove's list body; `in_detail`
/// adds the show view's times and version number (Trove's detail list, without the guest's
/// volume usage).
async fn list_page(
    state: &AppState,
    tenant: Option<String>,
    query: &PageQuery,
    req: &HttpRequest,
    in_detail: bool,
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
            .map(|r| views::instance_view(&base, &views::ViewSource::listed(r, expiry, in_detail), admin))
            .collect(),
        links: match (page.more, page.items.last()) {
            (true, Some(last)) => Some(links::next_page(req, limit, &last.instance.id)),
            _ => None,
        },
    };
    Ok(HttpResponse::Ok().json(body))
}

/// The project's instances, a page at a time.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances",
    params(Tenant, PageQuery),
    responses((status = 200, description = "A page of the project's instances.", body = InstanceList)),
)]
pub async fn list_instances(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, Some(path.into_inner()), &query, &req, false).await
}

/// `GET /instances/detail`: Trove's detail list, the list with the show view's `created`,
/// `updated`, `service_status_updated` and `datastore.version_number`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/detail",
    params(Tenant, PageQuery),
    responses((status = 200, description = "A page of the project's instances.", body = InstanceList)),
)]
pub async fn list_instances_detail(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, Some(path.into_inner()), &query, &req, true).await
}

/// `GET /mgmt/instances`: every project's instances (admin), with tenant and server ids.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/instances",
    params(Tenant, PageQuery),
    responses((status = 200, description = "A page of every project's instances.", body = InstanceList)),
)]
pub async fn list_all_instances(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, None, &query, &req, false).await
}

/// An instance, with its volume usage when its guest answers in time.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}",
    params(TenantInstance),
    responses((status = 200, description = "The instance.", body = InstanceBody)),
)]
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

/// Deletes an instance (a flow: the answer comes before the server is gone).
#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}",
    params(TenantInstance),
    responses((status = 202, description = "The delete is under way.")),
)]
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

/// Restarts, resizes, resets, or promotes/ejects in a replication group.
#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/instances/{id}/action",
    params(TenantInstance),
    request_body = InstanceActionRequest,
    responses((status = 202, description = "The action is under way.")),
)]
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
