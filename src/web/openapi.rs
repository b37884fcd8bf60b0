//! The OpenAPI 3.1 document of every route, generated from the handlers' `#[utoipa::path]`
//! annotations, the schema types in [`schemas`] (and the views that derive `ToSchema`
//! themselves), and the [`conventions`] every operation shares; served at `/openapi.json`.
//!
//! A route added to the router but not here fails `every_routed_path_is_documented`.

mod conventions;
pub mod fault;
pub mod params;
pub mod schemas;

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::HttpResponse;
use conventions::Conventions;
use std::sync::OnceLock;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coffer",
        description = "Database as a Service speaking OpenStack Trove's v1.0 API, with a Keystone \
                       v3 subset for tokens, an admin-only /mgmt API, a read-only Compute view, \
                       and an event stream.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        // Versions, operations, the console and this document.
        super::versions::list_versions,
        super::metrics::get_metrics,
        super::metrics::healthz,
        super::console::page,
        super::console::script,
        super::console::style,
        document,
        // Keystone's v3 subset.
        super::keystone::show_version,
        super::keystone::issue_token,
        super::keystone::validate_token,
        super::keystone::revoke_token,
        // The Compute view.
        super::compute_view::versions,
        super::compute_view::show_version,
        super::compute_view::list_servers,
        super::compute_view::list_servers_detail,
        super::compute_view::show_server,
        super::compute_view::list_flavors,
        super::compute_view::list_flavors_detail,
        super::compute_view::show_flavor,
        // The project's API: the catalog.
        super::events::stream_events,
        super::flavors::list_flavors,
        super::flavors::show_flavor,
        super::datastores::list_datastores,
        super::datastores::show_datastore,
        super::datastores::list_versions,
        super::datastores::show_version,
        super::parameters::list_by_version,
        super::parameters::show_by_version,
        super::parameters::list,
        super::parameters::show,
        // Configuration groups.
        super::configurations::list,
        super::configurations::create,
        super::configurations::show,
        super::configurations::replace,
        super::configurations::merge,
        super::configurations::delete,
        super::configurations::instances,
        super::configurations::instance_values,
        // Instances.
        super::instances::list_instances,
        super::instances::create_instance,
        super::instances::list_instances_detail,
        super::instances::show_instance,
        super::instance_update::update_instance,
        super::instance_update::edit_instance,
        super::instances::delete_instance,
        super::instances::act_on_instance,
        super::logs::list_logs,
        super::logs::act_on_log,
        // Databases, users, root.
        super::databases::list_databases,
        super::databases::create_databases,
        super::databases::delete_database,
        super::users::list_users,
        super::users::create_users,
        super::users::change_passwords,
        super::users::show_user,
        super::users::update_user,
        super::users::delete_user,
        super::users::list_user_access,
        super::users::grant_user_access,
        super::users::revoke_user_access,
        super::users::show_root,
        super::users::enable_root,
        super::users::disable_root,
        // Backups and their schedules.
        super::backups::list_instance_backups,
        super::backup_schedules::show_schedule,
        super::backup_schedules::set_schedule,
        super::backup_schedules::delete_schedule,
        super::backups::list_backups,
        super::backups::create_backup,
        super::backups::show_backup,
        super::backups::delete_backup,
        super::backups::list_backup_strategies,
        super::backups::create_backup_strategy,
        super::backups::delete_backup_strategies,
        // Limits and quotas.
        super::quotas::list_limits,
        super::quotas::show_quotas,
        super::quotas::update_quotas,
        // /mgmt.
        super::instances::list_all_instances,
        super::mgmt_instances::show_any,
        super::mgmt_instances::act_on_any,
        super::mgmt::list_actors,
        super::mgmt::list_supervision_events,
        super::mgmt::list_flows,
        super::mgmt::list_services,
        super::parameters::mgmt_list,
        super::parameters::mgmt_create,
        super::parameters::mgmt_show,
        super::parameters::mgmt_update,
        super::parameters::mgmt_delete,
    ),
    components(schemas(schemas::identity::KeystoneError)),
    modifiers(&Conventions),
)]
pub struct ApiDoc;

/// The document, rendered once (None if it cannot be: a defect the unit tests catch).
fn rendered() -> Option<&'static str> {
    static DOCUMENT: OnceLock<Option<String>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| match ApiDoc::openapi().to_json() {
            Ok(json) => Some(json),
            Err(e) => {
                tracing::error!(error = %e, "the OpenAPI document does not serialize");
                None
            }
        })
        .as_deref()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json")),
)]
pub async fn document() -> Result<HttpResponse, ApiError> {
    let document = rendered().ok_or_else(|| ApiError::Internal("the OpenAPI document does not serialize".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(document))
}

#[cfg(test)]
mod tests;
