//! The REST API (Trove v1.0), one resource per file; handlers are thin: validate, call the
//! model through [`Db::run`](crate::db::Db::run), cast to the task manager, render a view.
//!
//! Every `/v1.0/{tenant_id}` route passes [`auth::authenticate`] first; `/v3` is coffer's own
//! Keystone subset, where clients get their tokens.

mod auth;
mod backup_schedules;
mod backups;
mod databases;
mod datastores;
mod flavors;
mod guest_calls;
mod instances;
mod keystone;
mod links;
mod metrics;
mod mgmt;
mod quotas;
mod users;
pub(crate) mod validate;
mod versions;
pub(crate) mod views;

use crate::actors::Services;
use crate::error::ApiError;
use actix_web::{web, HttpRequest};

/// What every handler is given.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
}

/// Registers every route on an actix-web app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
        .route("/", web::get().to(versions::list_versions))
        .route("/metrics", web::get().to(metrics::get_metrics))
        .route("/v3", web::get().to(keystone::show_version))
        .route("/v3/", web::get().to(keystone::show_version))
        .route("/v3/auth/tokens", web::post().to(keystone::issue_token))
        .service(
            web::scope("/v1.0/{tenant_id}")
                .wrap(actix_web::middleware::from_fn(auth::authenticate))
                .route("/flavors", web::get().to(flavors::list_flavors))
                .route("/flavors/{flavor_id}", web::get().to(flavors::show_flavor))
                .route("/datastores", web::get().to(datastores::list_datastores))
                .route("/datastores/{ds}", web::get().to(datastores::show_datastore))
                .route("/datastores/{ds}/versions", web::get().to(datastores::list_versions))
                .route(
                    "/datastores/{ds}/versions/{version}",
                    web::get().to(datastores::show_version),
                )
                .route("/instances", web::get().to(instances::list_instances))
                .route("/instances/detail", web::get().to(instances::list_instances))
                .route("/instances", web::post().to(instances::create_instance))
                .route("/instances/{id}", web::get().to(instances::show_instance))
                .route("/instances/{id}", web::delete().to(instances::delete_instance))
                .route("/instances/{id}/action", web::post().to(instances::act_on_instance))
                .route("/instances/{id}/databases", web::get().to(databases::list_databases))
                .route("/instances/{id}/databases", web::post().to(databases::create_databases))
                .route(
                    "/instances/{id}/databases/{name}",
                    web::delete().to(databases::delete_database),
                )
                .route("/instances/{id}/users", web::get().to(users::list_users))
                .route("/instances/{id}/users", web::post().to(users::create_users))
                .route("/instances/{id}/users", web::put().to(users::change_passwords))
                .route("/instances/{id}/users/{user}", web::get().to(users::show_user))
                .route("/instances/{id}/users/{user}", web::put().to(users::update_user))
                .route("/instances/{id}/users/{user}", web::delete().to(users::delete_user))
                .route(
                    "/instances/{id}/users/{user}/databases",
                    web::get().to(users::list_user_access),
                )
                .route(
                    "/instances/{id}/users/{user}/databases",
                    web::put().to(users::grant_user_access),
                )
                .route(
                    "/instances/{id}/users/{user}/databases/{db}",
                    web::delete().to(users::revoke_user_access),
                )
                .route("/instances/{id}/root", web::get().to(users::show_root))
                .route("/instances/{id}/root", web::post().to(users::enable_root))
                .route("/instances/{id}/root", web::delete().to(users::disable_root))
                .route("/instances/{id}/backups", web::get().to(backups::list_instance_backups))
                .route(
                    "/instances/{id}/backup_schedule",
                    web::get().to(backup_schedules::show_schedule),
                )
                .route(
                    "/instances/{id}/backup_schedule",
                    web::put().to(backup_schedules::set_schedule),
                )
                .route(
                    "/instances/{id}/backup_schedule",
                    web::delete().to(backup_schedules::delete_schedule),
                )
                .route("/backups", web::get().to(backups::list_backups))
                .route("/backups", web::post().to(backups::create_backup))
                .route("/backups/{id}", web::get().to(backups::show_backup))
                .route("/backups/{id}", web::delete().to(backups::delete_backup))
                .route("/backup_strategies", web::route().to(backups::backup_strategies))
                .route("/limits", web::get().to(quotas::list_limits))
                .route("/mgmt/quotas/{project}", web::get().to(quotas::show_quotas))
                .route("/mgmt/quotas/{project}", web::put().to(quotas::update_quotas))
                .route("/mgmt/instances", web::get().to(instances::list_all_instances))
                .route("/mgmt/actors", web::get().to(mgmt::list_actors))
                .route("/mgmt/supervision-events", web::get().to(mgmt::list_supervision_events))
                .route("/mgmt/flows", web::get().to(mgmt::list_flows)),
        )
        .default_service(web::to(not_found));
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1 << 20)
        .error_handler(|e, _| ApiError::BadRequest(format!("Malformed request body: {e}")).into())
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "The resource could not be found: {}",
        req.path()
    )))
}

/// `limit` and `marker` query parameters of a list.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

impl PageQuery {
    /// The page size: `limit` if it is a positive number (capped at the default), else the default.
    pub fn limit(&self, default: i64) -> Result<i64, ApiError> {
        match &self.limit {
            None => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n.min(default.max(1) * 50)),
                _ => Err(ApiError::BadRequest(format!(
                    "limit must be a positive integer, not {s:?}"
                ))),
            },
        }
    }
}
