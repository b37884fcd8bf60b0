//! The REST API (Trove v1.0), one resource per file; handlers are thin: validate, call the
//! model through [`Db::run`](crate::db::Db::run), cast to the task manager, render a view.
//!
//! Every `/v1.0/{tenant_id}` route passes [`auth::authenticate`] first; `/v3` is coffer's own
//! Keystone subset, where clients get their tokens.

mod acting;
mod auth;
mod backup_registration;
mod backup_schedules;
mod backups;
pub mod caches;
mod compute_view;
mod configurations;
mod console;
mod databases;
mod datastores;
mod events;
pub mod fault_io;
mod flavors;
mod flow_casts;
mod guest_calls;
pub mod input;
mod instance_update;
mod instances;
mod keystone;
pub use keystone::fault_shape::in_keystone_shape as keystone_faults;
pub mod linger;
pub mod links;
mod logs;
pub(crate) mod metrics;
mod mgmt;
mod mgmt_instances;
mod mgmt_routes;
mod openapi;
mod parameters;
mod quotas;
mod replicas;
pub mod request_id;
mod routing;
mod supervision_tree;
mod users;
pub(crate) mod validate;
mod versions;
pub(crate) mod views;

use crate::db::Db;
use crate::error::ApiError;
use crate::identity::{LoginBrake, PasswordChecker};
use crate::services::Services;
use actix_web::{guard, web, HttpRequest};
use routing::endpoint;
use std::sync::Arc;

/// What every handler is given.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// The API's own connection pool; the node's internal work has another.
    pub db: Db,
    /// What every link starts with (`[api] public_url`, or derived from the bound address).
    pub public_url: String,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The brake on password guessing.
    pub login_brake: Arc<LoginBrake>,
    /// Password checks, bounded.
    pub passwords: Arc<PasswordChecker>,
    /// Validated tokens and the catalog, answered from memory.
    pub caches: Arc<caches::ReadCaches>,
    /// What this process's event streams follow.
    pub events: Arc<events::EventHub>,
}

impl AppState {
    /// The API's state for a server bound to `bound`, with its own pool `db`.
    pub fn new(services: Services, db: Db, bound: std::net::SocketAddr) -> Result<AppState, String> {
        let api = &services.config.api;
        let trusted_proxies = api
            .trusted_proxies
            .iter()
            .map(|p| crate::config::validate::parse_proxy(p))
            .collect::<Result<Vec<_>, _>>()?;
        let auth = &services.config.auth;
        Ok(AppState {
            public_url: links::derived_public_url(&api.public_url, bound),
            trusted_proxies,
            login_brake: Arc::new(LoginBrake::new(auth.failed_login_window_s, MAX_BRAKE_KEYS)),
            passwords: Arc::new(PasswordChecker::new(auth.password_check_slots)),
            caches: caches::ReadCaches::start(&db)?,
            events: events::EventHub::new(
                db.clone(),
                api.events_poll_ms,
                events::StreamLimits {
                    total: api.events_max_streams,
                    per_project: api.events_max_streams_per_project,
                },
            ),
            db,
            services,
        })
    }
}

/// Keys the login brake remembers at most (each a 16-byte digest and its attempt times).
const MAX_BRAKE_KEYS: usize = 50_000;

/// Registers every route on an actix-web app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
        .service(endpoint("/").get(versions::list_versions).done())
        .service(endpoint("/metrics").get(metrics::get_metrics).done())
        .service(endpoint("/healthz").get(metrics::healthz).done())
        .service(endpoint("/openapi.json").get(openapi::document).done())
        .service(endpoint("/console").get(console::page).done())
        .service(endpoint("/console/console.js").get(console::script).done())
        .service(endpoint("/console/console.css").get(console::style).done())
        .configure(keystone::routes)
        .service(endpoint("/compute").get(compute_view::versions).done())
        .service(
            web::scope("/compute/v2.1")
                .wrap(actix_web::middleware::from_fn(compute_view::require_admin_token))
                .configure(compute_routes),
        )
        .service(
            web::scope("/v1.0/{tenant_id}")
                .wrap(actix_web::middleware::from_fn(auth::authenticate))
                .configure(tenant_routes),
        )
        .default_service(web::to(not_found));
}

/// `/v1.0/{tenant_id}`'s routes, all behind [`auth::authenticate`]; `/mgmt` is a scope behind
/// [`auth::require_admin`], so what is authorized is the route the router matched, never a
/// path string.
fn tenant_routes(cfg: &mut web::ServiceConfig) {
    let instance = |rest: &str| format!("/instances/{{id}}{rest}");
    cfg.service(endpoint("/events").get(events::stream_events).done())
        .service(endpoint("/flavors").get(flavors::list_flavors).done())
        .service(endpoint("/flavors/{flavor_id}").get(flavors::show_flavor).done())
        .service(endpoint("/datastores").get(datastores::list_datastores).done())
        .service(endpoint("/datastores/{ds}").get(datastores::show_datastore).done())
        .service(
            endpoint("/datastores/{ds}/versions")
                .get(datastores::list_versions)
                .done(),
        )
        .service(
            endpoint("/datastores/{ds}/versions/{version}")
                .get(datastores::show_version)
                .done(),
        )
        .configure(configuration_routes)
        .service(
            endpoint("/instances")
                .get(instances::list_instances)
                .post(instances::create_instance)
                .done(),
        )
        .service(
            endpoint("/instances/detail")
                .get(instances::list_instances_detail)
                .done(),
        )
        .service(
            endpoint(&instance(""))
                .get(instances::show_instance)
                .put(instance_update::update_instance)
                .patch(instance_update::edit_instance)
                .delete(instances::delete_instance)
                .done(),
        )
        .service(endpoint(&instance("/action")).post(instances::act_on_instance).done())
        .service(
            endpoint(&instance("/databases"))
                .get(databases::list_databases)
                .post(databases::create_databases)
                .done(),
        )
        .service(
            endpoint(&instance("/databases/{name}"))
                .delete(databases::delete_database)
                .done(),
        )
        .service(
            endpoint(&instance("/users"))
                .get(users::list_users)
                .post(users::create_users)
                .put(users::change_passwords)
                .done(),
        )
        .service(
            endpoint(&instance("/users/{user}"))
                .get(users::show_user)
                .put(users::update_user)
                .delete(users::delete_user)
                .done(),
        )
        .service(
            endpoint(&instance("/users/{user}/databases"))
                .get(users::list_user_access)
                .put(users::grant_user_access)
                .done(),
        )
        .service(
            endpoint(&instance("/users/{user}/databases/{db}"))
                .delete(users::revoke_user_access)
                .done(),
        )
        .service(
            endpoint(&instance("/root"))
                .get(users::show_root)
                .post(users::enable_root)
                .delete(users::disable_root)
                .done(),
        )
        .service(
            endpoint(&instance("/log"))
                .get(logs::list_logs)
                .post(logs::act_on_log)
                .done(),
        )
        .service(
            endpoint(&instance("/backups"))
                .get(backups::list_instance_backups)
                .done(),
        )
        .service(
            endpoint(&instance("/backup_schedule"))
                .get(backup_schedules::show_schedule)
                .put(backup_schedules::set_schedule)
                .delete(backup_schedules::delete_schedule)
                .done(),
        )
        .service(
            endpoint("/backups")
                .get(backups::list_backups)
                .post(backups::create_backup)
                .done(),
        )
        .service(
            endpoint("/backups/{id}")
                .get(backups::show_backup)
                .delete(backups::delete_backup)
                .done(),
        )
        .service(
            endpoint("/backup_strategies")
                .get(backups::list_backup_strategies)
                .post(backups::create_backup_strategy)
                .delete(backups::delete_backup_strategies)
                .done(),
        )
        .service(endpoint("/limits").get(quotas::list_limits).done())
        // A project reads its own quotas without the admin role (the handler checks it is its own).
        .service(
            web::resource("/mgmt/quotas/{project}")
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .guard(guard::fn_guard(|ctx| !auth::is_admin_caller(&ctx.req_data())))
                .to(quotas::show_own_quotas),
        )
        .service(
            web::scope("/mgmt")
                .wrap(actix_web::middleware::from_fn(auth::require_admin))
                .configure(mgmt_routes::routes),
        );
}

/// Configuration groups and the parameter catalog (Trove's §1.4–1.5).
fn configuration_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        endpoint("/datastores/versions/{version}/parameters")
            .get(parameters::list_by_version)
            .done(),
    )
    .service(
        endpoint("/datastores/versions/{version}/parameters/{name}")
            .get(parameters::show_by_version)
            .done(),
    )
    .service(
        endpoint("/datastores/{ds}/versions/{version}/parameters")
            .get(parameters::list)
            .done(),
    )
    .service(
        endpoint("/datastores/{ds}/versions/{version}/parameters/{name}")
            .get(parameters::show)
            .done(),
    )
    .service(
        endpoint("/configurations")
            .get(configurations::list)
            .post(configurations::create)
            .done(),
    )
    .service(
        endpoint("/configurations/{id}")
            .get(configurations::show)
            .put(configurations::replace)
            .patch(configurations::merge)
            .delete(configurations::delete)
            .done(),
    )
    .service(
        endpoint("/configurations/{id}/instances")
            .get(configurations::instances)
            .done(),
    )
    .service(
        endpoint("/instances/{id}/configuration")
            .get(configurations::instance_values)
            .done(),
    );
}

/// `/compute/v2.1`: the read-only Compute view, admins only.
fn compute_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(endpoint("").get(compute_view::show_version).done())
        .service(endpoint("/").get(compute_view::show_version).done())
        .service(endpoint("/servers").get(compute_view::list_servers).done())
        .service(
            endpoint("/servers/detail")
                .get(compute_view::list_servers_detail)
                .done(),
        )
        .service(endpoint("/servers/{id}").get(compute_view::show_server).done())
        .service(endpoint("/flavors").get(compute_view::list_flavors).done())
        .service(
            endpoint("/flavors/detail")
                .get(compute_view::list_flavors_detail)
                .done(),
        )
        .service(endpoint("/flavors/{id}").get(compute_view::show_flavor).done());
}

/// Request bodies: at most [`MAX_BODY_BYTES`] of JSON; a larger one is 413 `overLimit`.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(false)
        .error_handler(|e, _| {
            use actix_web::error::JsonPayloadError as E;
            match e {
                E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::Protocol {
                    status: 413,
                    message: format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                },
                E::ContentType => ApiError::Protocol {
                    status: 415,
                    message: "The request body must be application/json.".into(),
                },
                other => ApiError::BadRequest(format!("Malformed request body: {other}")),
            }
            .into()
        })
}

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 1 << 20;

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "The resource could not be found: {}",
        req.path()
    )))
}

/// `limit` and `marker` query parameters of a list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (a positive integer; larger pages are cut to the maximum).
    pub limit: Option<String>,
    /// The last id of the previous page.
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
