//! `/mgmt`'s route table, behind [`super::auth::require_admin`]: quotas, every project's
//! instances, actors, supervision events, flows, services and configuration parameters.

use super::routing::endpoint;
use super::{instances, mgmt, mgmt_instances, parameters, quotas};
use actix_web::web;

/// `/mgmt`: admins only.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        endpoint("/quotas/{project}")
            .get(quotas::show_quotas)
            .put(quotas::update_quotas)
            .done(),
    )
    .service(endpoint("/instances").get(instances::list_all_instances).done())
    .service(endpoint("/instances/{id}").get(mgmt_instances::show_any).done())
    .service(
        endpoint("/instances/{id}/action")
            .post(mgmt_instances::act_on_any)
            .done(),
    )
    .service(endpoint("/actors").get(mgmt::list_actors).done())
    .service(
        endpoint("/supervision-events")
            .get(mgmt::list_supervision_events)
            .done(),
    )
    .service(endpoint("/flows").get(mgmt::list_flows).done())
    .service(endpoint("/services").get(mgmt::list_services).done())
    .service(
        endpoint("/datastores/versions/{version}/parameters")
            .get(parameters::mgmt_list)
            .post(parameters::mgmt_create)
            .done(),
    )
    .service(
        endpoint("/datastores/versions/{version}/parameters/{name}")
            .get(parameters::mgmt_show)
            .put(parameters::mgmt_update)
            .delete(parameters::mgmt_delete)
            .done(),
    );
}
