//! The actions on an instance that start a task: restart, resize (flavor or volume), and an
//! admin's resets of a stuck instance.

use super::{backups, busy, cancel_flows, configurations, over_quota, ready_for_action, MAX_VOLUME_GB};
use crate::db::models::catalog::Flavor;
use crate::db::models::flow::Flow;
use crate::db::models::instance::{Instance, InstanceRecord};
use crate::db::models::quota;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{write_tx, DbConn};
use crate::error::ApiError;
use crate::flows;
use crate::flows::state::{ResizeFlavorState, ResizeVolumeState, RestartState};
use crate::status::{ServiceStatus, Task};
use serde_json::json;

/// Records a restart: task REBOOTING, service RESTARTING, a restart flow.
pub fn restart_instance(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    heartbeat_expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        ready_for_action(conn, tenant, id, heartbeat_expiry_ms)?;
        if !Instance::begin_task(conn, id, Task::Rebooting)? {
            return Err(busy(id));
        }
        ServiceStatusRow::set(conn, id, ServiceStatus::Restarting)?;
        let flow = Flow::new(flows::FlowKind::Restart, id, &RestartState::default(), deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}

/// What a resize asks for.
pub enum Resize {
    Flavor(String),
    Volume(i32),
}

/// Records a resize of the flavor or the volume: task RESIZING and its flow, on the instance
/// and (as Trove does) on each of its replicas that is not that large already, all or none.
pub fn resize_instance(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    resize: &Resize,
    heartbeat_expiry_ms: i64,
    deadline_ms: i64,
    limits: &quota::Defaults,
) -> Result<Vec<Flow>, ApiError> {
    write_tx(conn, |conn| {
        let record = ready_for_action(conn, tenant, id, heartbeat_expiry_ms)?;
        let mut flows = vec![resize_one(conn, &record, resize, deadline_ms, limits)?];
        for replica in &record.replicas {
            let member = ready_for_action(conn, tenant, replica, heartbeat_expiry_ms)?;
            if !already_as_large(conn, &member, resize)? {
                flows.push(resize_one(conn, &member, resize, deadline_ms, limits)?);
            }
        }
        Ok(flows)
    })
}

/// Whether a replica has the flavor or volume size a resize of its source asks for already.
fn already_as_large(conn: &mut DbConn, replica: &InstanceRecord, resize: &Resize) -> Result<bool, ApiError> {
    Ok(match resize {
        Resize::Flavor(flavor_id) => {
            Flavor::find_by_id_or_name(conn, flavor_id)?.is_some_and(|f| f.id == replica.instance.flavor_id)
        }
        Resize::Volume(size) => replica.instance.volume_size.is_some_and(|v| v >= *size),
    })
}

/// One instance's resize: its quota, task and flow.
fn resize_one(
    conn: &mut DbConn,
    record: &InstanceRecord,
    resize: &Resize,
    deadline_ms: i64,
    limits: &quota::Defaults,
) -> Result<Flow, ApiError> {
    let (id, tenant) = (&record.instance.id, &record.instance.tenant_id);
    let (kind, state) = match resize {
        Resize::Flavor(flavor_id) => {
            let flavor = Flavor::find_by_id_or_name(conn, flavor_id)?
                .ok_or_else(|| ApiError::NotFound(format!("Flavor {flavor_id} could not be found.")))?;
            if flavor.id == record.instance.flavor_id {
                return Err(ApiError::BadRequest(
                    "The new flavor id must be different than the current flavor id.".into(),
                ));
            }
            configurations::group_fits_flavor(conn, record.instance.configuration_id.as_deref(), &flavor.id)?;
            let current = Flavor::find(conn, &record.instance.flavor_id)?.map_or(0, |f| f.ram);
            // A bigger flavor takes its extra memory from the quota now; a smaller one gives
            // the difference back when the resize is recorded.
            let ram_delta = flavor.ram - current;
            over_quota(quota::consume(conn, limits, tenant, &[("ram", ram_delta)])?)?;
            let state = ResizeFlavorState {
                flavor_id: flavor.id.clone(),
                memory_mb: i64::from(flavor.ram),
                ram_delta: i64::from(ram_delta),
                resized_at: None,
            };
            (flows::FlowKind::ResizeFlavor, json!(state))
        }
        Resize::Volume(size) => {
            let current = record
                .instance
                .volume_size
                .ok_or_else(|| ApiError::BadRequest(format!("Instance {id} has no volume to resize.")))?;
            if *size <= current {
                return Err(ApiError::BadRequest(format!(
                    "The new volume size {size} must be larger than the current volume size of {current}."
                )));
            }
            if *size > MAX_VOLUME_GB {
                return Err(ApiError::OverLimit(format!(
                    "Volume size {size} cannot exceed maximum of {MAX_VOLUME_GB} GB."
                )));
            }
            over_quota(quota::consume(conn, limits, tenant, &[("volumes", size - current)])?)?;
            let state = ResizeVolumeState {
                size: i64::from(*size),
                volume_delta: i64::from(size - current),
                resized_at: None,
            };
            (flows::FlowKind::ResizeVolume, json!(state))
        }
    };
    if !Instance::begin_task(conn, id, Task::Resizing)? {
        return Err(busy(id));
    }
    let flow = Flow::new(kind, id, &state, deadline_ms);
    flow.insert(conn)?;
    Ok(flow)
}

/// Trove's mgmt `reset-task-status`: the task is NONE again and its flows stop; the datastore's
/// status is left to the next heartbeat.
pub fn reset_task_status(conn: &mut DbConn, tenant: &str, id: &str) -> Result<(), ApiError> {
    end_tasks(conn, tenant, id, false)
}

/// Trove's `reset_status` (admin): task NONE, service UNKNOWN, every running flow but a delete
/// cancelled and every running backup FAILED — the way out for an instance an operator wants to
/// act on again.
pub fn reset_status(conn: &mut DbConn, tenant: &str, id: &str) -> Result<(), ApiError> {
    end_tasks(conn, tenant, id, true)
}

/// Ends whatever task the instance has (not a delete), and with `service` its datastore status.
fn end_tasks(conn: &mut DbConn, tenant: &str, id: &str, service: bool) -> Result<(), ApiError> {
    write_tx(conn, |conn| {
        Instance::lock(conn, id)?;
        Instance::find_record(conn, tenant, id)?
            .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
        if Flow::running_of_kind(conn, id, flows::FlowKind::Delete.name())?.is_some() {
            return Err(ApiError::Unprocessable(format!("Instance {id} is being deleted.")));
        }
        cancel_flows(conn, tenant, id)?;
        backups::fail_running(conn, id)?;
        Instance::set_task(conn, id, Task::None)?;
        // A restart the configuration still owes outlives a reset.
        let pending = Instance::find(conn, id)?.is_some_and(|i| i.restart_pending);
        Instance::set_restart_pending(conn, id, pending)?;
        if service {
            ServiceStatusRow::set(conn, id, ServiceStatus::Unknown)?;
        }
        Ok(())
    })
}
