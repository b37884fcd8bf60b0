//! The intents of `PUT /instances/{id}` beyond a rename, and of an admin's rebuild: access
//! rules, an upgrade to a datastore version, a rebuild on the installed binaries. Each takes
//! the instance's row, checks it may act (Trove's `validate_can_perform_action`), sets the
//! task and records its flow in one transaction.

use super::{busy, ready_for_action};
use crate::db::models::catalog::DatastoreVersion;
use crate::db::models::flow::Flow;
use crate::db::models::instance::Instance;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{write_tx, DbConn};
use crate::error::ApiError;
use crate::flows;
use crate::flows::state::{AccessRules, AccessState, RebuildState};
use crate::status::{ServiceStatus, Task};
use serde_json::Value;

/// Whether the host can enforce `allowed_cidrs` for `manager` (PostgreSQL always can, through
/// pg_hba; the others through the host firewall only).
pub fn access_enforceable(manager: &str, cidrs: &[String]) -> Result<(), ApiError> {
    let restricted = !crate::guest::firewall::open_to_all(cidrs);
    let by_itself = crate::manager::Manager::parse(manager).is_some_and(|m| m.enforces_access_itself());
    if restricted && !by_itself && !crate::guest::firewall::available() {
        return Err(ApiError::NotImplemented(format!(
            "access.allowed_cidrs is enforced for {manager} only when coffer runs as root with nftables installed."
        )));
    }
    Ok(())
}

/// Records an access update: task UPDATING and its flow; the rules are recorded when applied.
pub fn update_access(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    access: Value,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        let record = ready_for_action(conn, tenant, id, expiry_ms)?;
        let cidrs: Vec<String> = access["allowed_cidrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        access_enforceable(&record.version.manager, &cidrs)?;
        if !Instance::begin_task(conn, id, Task::Updating)? {
            return Err(busy(id));
        }
        let access = AccessRules {
            is_public: access.get("is_public").and_then(Value::as_bool).unwrap_or(false),
            allowed_cidrs: cidrs,
        };
        let flow = Flow::new(flows::FlowKind::UpdateAccess, id, &AccessState { access }, deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}

/// Records an upgrade to `version` (a name or id of the instance's datastore's versions, one
/// whose binaries are installed): task UPGRADING, service UPGRADING, its flow.
pub fn upgrade_instance(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    version: &str,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        let record = ready_for_action(conn, tenant, id, expiry_ms)?;
        let target = DatastoreVersion::find_in(conn, &record.datastore.id, version)?
            .filter(|v| v.active)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Datastore version '{version}' of {} is not available.",
                    record.datastore.name
                ))
            })?;
        if !Instance::begin_task(conn, id, Task::Upgrading)? {
            return Err(busy(id));
        }
        ServiceStatusRow::set(conn, id, ServiceStatus::Upgrading)?;
        let state = RebuildState {
            datastore_version_id: Some(target.id),
            ..RebuildState::default()
        };
        let flow = Flow::new(flows::FlowKind::Upgrade, id, &state, deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}

/// Records an admin's rebuild (`image_id` kept): task REBUILDING, service RESTARTING, its flow.
pub fn rebuild_instance(
    conn: &mut DbConn,
    id: &str,
    image_id: &str,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        let tenant = Instance::find(conn, id)?
            .map(|i| i.tenant_id)
            .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
        ready_for_action(conn, &tenant, id, expiry_ms)?;
        if !Instance::begin_task(conn, id, Task::Rebuilding)? {
            return Err(busy(id));
        }
        ServiceStatusRow::set(conn, id, ServiceStatus::Restarting)?;
        let state = RebuildState {
            image_id: Some(image_id.to_string()),
            ..RebuildState::default()
        };
        let flow = Flow::new(flows::FlowKind::Rebuild, id, &state, deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}
