//! Replication intents: Trove's checks of a replica create, detach, promote and eject, and the
//! rows they write (tasks on every member, one flow) before the task manager is cast.

use super::check_ready;
use crate::db::models::catalog::Flavor;
use crate::db::models::flow::Flow;
use crate::db::models::instance::{Instance, InstanceRecord};
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{write_tx, DbConn};
use crate::error::ApiError;
use crate::flows::state::SwitchState;
use crate::flows::FlowKind;
use crate::intents::CreateInstance;
use crate::secrets::MasterKey;
use crate::status::Task;

/// Trove's `replica_count` bounds.
pub const MAX_REPLICAS_PER_CREATE: i64 = 3;

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Instance {id} could not be found."))
}

/// Checks a replica create against its source (Trove's rules) and answers the source.
pub fn check_replica(
    conn: &mut DbConn,
    tenant: &str,
    source_id: &str,
    req: &CreateInstance,
    expiry_ms: i64,
) -> Result<InstanceRecord, ApiError> {
    if !req.databases.is_empty() || !req.users.is_empty() {
        return Err(ApiError::BadRequest(
            "Cannot specify databases or users for a replica: they come from its source.".into(),
        ));
    }
    if req.datastore_type.is_some() || req.datastore_version.is_some() {
        return Err(ApiError::BadRequest(
            "Cannot specify a datastore for a replica: it is its source's.".into(),
        ));
    }
    if req.restore_backup_id.is_some() {
        return Err(ApiError::BadRequest(
            "A replica cannot be restored from a backup.".into(),
        ));
    }
    Instance::lock(conn, source_id)?;
    let source = Instance::find_record(conn, tenant, source_id)?.ok_or_else(|| not_found(source_id))?;
    if source.instance.slave_of_id.is_some() {
        return Err(ApiError::Unauthorized(format!(
            "Cannot create a replica of a replica {source_id}."
        )));
    }
    let manager = crate::manager::Manager::parse(&source.version.manager);
    if !manager.is_some_and(crate::manager::Manager::has_replication) {
        return Err(ApiError::BadRequest(format!(
            "Datastore {} does not support replication.",
            source.version.manager
        )));
    }
    check_ready(source_id, &source, expiry_ms)?;
    if let (Some(mine), Some(theirs)) = (req.volume_size, source.instance.volume_size) {
        if mine < theirs {
            return Err(ApiError::Unauthorized(format!(
                "Replica volume size {mine} GB is smaller than the source's {theirs} GB."
            )));
        }
    }
    Ok(source)
}

/// The group's sealed replication password, made (and kept on the source) at its first replica.
pub fn group_secret(conn: &mut DbConn, source: &Instance, secrets: &MasterKey) -> Result<String, ApiError> {
    // Read again: the replicas of one create share the secret the first of them sealed.
    let current = Instance::find(conn, &source.id)?.and_then(|i| i.replication_secret);
    if let Some(sealed) = current {
        return Ok(sealed);
    }
    let sealed = secrets.seal(&crate::secrets::random_password(32));
    Instance::set_replication_secret(conn, &source.id, &sealed)?;
    Ok(sealed)
}

/// The flavor of a replica: the one asked for, else its source's.
pub fn replica_flavor(conn: &mut DbConn, req: &CreateInstance, source: &Instance) -> Result<Flavor, ApiError> {
    let key = if req.flavor_id.is_empty() {
        &source.flavor_id
    } else {
        &req.flavor_id
    };
    Flavor::find_by_id_or_name(conn, key)?
        .ok_or_else(|| ApiError::NotFound(format!("Flavor {key} could not be found.")))
}

/// Records a detach (`PUT {"instance": {"replica_of": null}}`): task DETACHING and its flow.
pub fn detach_replica(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        let record = super::ready_for_action(conn, tenant, id, expiry_ms)?;
        if record.instance.slave_of_id.is_none() {
            return Err(ApiError::BadRequest(format!("Instance {id} is not a replica.")));
        }
        if !Instance::begin_task(conn, id, Task::Detaching)? {
            return Err(super::busy(id));
        }
        let flow = Flow::new(FlowKind::Detach, id, &crate::flows::state::NoState {}, deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}

/// Records a switchover (`promote_to_replica_source`, asked of a replica) or a failover
/// (`eject_replica_source`, asked of a source whose heartbeat stopped, or of one of its
/// replicas): the task on every member and one flow on the instance asked.
pub fn switch_source(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    failover: bool,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        Instance::lock(conn, id)?;
        let record = Instance::find_record(conn, tenant, id)?.ok_or_else(|| not_found(id))?;
        let source_id = match (&record.instance.slave_of_id, failover) {
            (Some(source), _) => source.clone(),
            (None, true) if !record.replicas.is_empty() => id.to_string(),
            (None, true) => return Err(ApiError::BadRequest(format!("Instance {id} is not a replica source."))),
            (None, false) => return Err(ApiError::BadRequest(format!("Instance {id} is not a replica."))),
        };
        let source = Instance::find_record(conn, tenant, &source_id)?.ok_or_else(|| not_found(&source_id))?;
        let members: Vec<String> = std::iter::once(source_id.clone())
            .chain(source.replicas.iter().cloned())
            .collect();
        let task = if failover { Task::Ejecting } else { Task::Promoting };
        // A failover takes over from a source whose guest is gone, whatever it was doing.
        let mut takes_over = false;
        if failover {
            // Trove ejects only a source whose heartbeat stopped; a heartbeat that says its
            // server is not running (killed, crashed) is as good as none.
            let beat = ServiceStatusRow::find(conn, &source_id)?;
            let current = beat
                .as_ref()
                .is_some_and(|b| crate::db::now_ms() - b.updated_at < expiry_ms);
            let serving = beat
                .and_then(|b| crate::status::ServiceStatus::from_code(b.status_id))
                .is_some_and(crate::status::ServiceStatus::is_ready);
            // A server that is down for a task of its own (a restart, a resize) is coming back.
            let busy_source = !source.instance.task().is_some_and(|t| t.is_idle() || t.is_error());
            if current && (serving || busy_source) {
                return Err(ApiError::BadRequest(format!(
                    "Replica Source {source_id} cannot be ejected as it has a current heartbeat."
                )));
            }
            if !current {
                takes_over = true;
                super::cancel_flows(conn, tenant, &source_id)?;
            }
        } else {
            check_ready(id, &record, expiry_ms)?;
            check_ready(&source_id, &source, expiry_ms)?;
        }
        for member in &members {
            Instance::lock(conn, member)?;
        }
        for member in &members {
            // A member left in an error task by an earlier change may take part again.
            let free = Instance::find(conn, member)?
                .and_then(|i| i.task())
                .is_some_and(|t| t.is_idle() || t.is_error());
            let taken_over = takes_over && *member == source_id;
            if !(free || taken_over) {
                return Err(super::busy(member));
            }
        }
        for member in &members {
            Instance::set_task(conn, member, task)?;
        }
        let state = SwitchState {
            source: source_id,
            candidate: (!failover).then(|| id.to_string()),
            failover,
            ..SwitchState::default()
        };
        let kind = if failover { FlowKind::Eject } else { FlowKind::Promote };
        let flow = Flow::new(kind, id, &state, deadline_ms);
        flow.insert(conn)?;
        Ok(flow)
    })
}

/// Trove refuses to delete a source that still has replicas.
pub fn check_deletable(record: &InstanceRecord) -> Result<(), ApiError> {
    // A group in the middle of a change keeps its members until the change has ended.
    if let Some(task @ (Task::Promoting | Task::Ejecting | Task::Detaching)) = record.instance.task() {
        return Err(ApiError::Unprocessable(format!(
            "Instance {} cannot be deleted while its replication group is changing ({}).",
            record.instance.id,
            task.description()
        )));
    }
    if record.replicas.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "Instance {} has replicas and cannot be deleted: detach or delete them first.",
        record.instance.id
    )))
}
