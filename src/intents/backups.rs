//! What the API writes for backups, in one transaction each: a backup (row, quota, flow), a
//! registered backup (row, quota), a backup's deletion (a flow), and the checks a restore makes
//! before an instance is recorded.

use super::{over_quota, ready_for_action};
use crate::db::models::backup::{self, Backup, Registered};
use crate::db::models::catalog::{Datastore, DatastoreVersion};
use crate::db::models::flow::Flow;
use crate::db::models::quota;
use crate::db::{write_tx, DbConn, DbError};
use crate::error::ApiError;
use crate::flows;
use crate::flows::state::{BackupState, NoState};
use crate::guest::RestorePiece;
use crate::manager::Manager;

/// A checked `POST /backups`.
#[derive(Debug, Clone)]
pub struct CreateBackup {
    pub name: String,
    pub instance_id: String,
    pub description: Option<String>,
    pub parent_id: Option<String>,
    /// `incremental: 1`: chain on the instance's newest completed backup, if it has one.
    pub incremental: bool,
}

/// A checked `POST /backups` with `restore_from`: register a backup whose object is already in
/// the store (Trove's "restore from another region").
#[derive(Debug, Clone)]
pub struct RegisterBackup {
    pub name: String,
    pub description: Option<String>,
    pub location: String,
    pub datastore_version_id: String,
    /// GB, as Trove's view shows it.
    pub size_gb: f64,
    /// The SHA-256 the client expects (coffer's views show it), if it says.
    pub checksum: Option<String>,
}

/// The checks a registration passes before coffer reads its object: the datastore version
/// exists (its kind is returned), the project has room for one more backup, and the object is
/// not one of this deployment's own backups (`key`'s second segment is a backup id), which
/// already restores by its id and whose deletion would take the object along.
pub fn check_registration(
    conn: &mut DbConn,
    tenant: &str,
    req: &RegisterBackup,
    key: &str,
    limits: &quota::Defaults,
) -> Result<Manager, ApiError> {
    let manager = registration_manager(conn, req)?;
    let limit = quota::limit(conn, limits, tenant, "backups")?;
    if limit >= 0 && quota::in_use(conn, tenant, "backups")? >= limit {
        over_quota(vec!["backups".to_string()])?;
    }
    if let Some(id) = key.split('/').nth(1).filter(|id| uuid::Uuid::parse_str(id).is_ok()) {
        if Backup::ever_recorded(conn, id)? {
            return Err(ApiError::BadRequest(format!(
                "The object at {} is backup {id}'s own: restore from that backup instead.",
                req.location
            )));
        }
    }
    Ok(manager)
}

/// The datastore kind a registered backup is of (`local_datastore_version_id`'s).
fn registration_manager(conn: &mut DbConn, req: &RegisterBackup) -> Result<Manager, ApiError> {
    let id = &req.datastore_version_id;
    let version = DatastoreVersion::find(conn, id)?
        .ok_or_else(|| ApiError::NotFound(format!("Datastore version '{id}' cannot be found.")))?;
    Manager::parse(&version.manager)
        .ok_or_else(|| ApiError::BadRequest(format!("Datastore version '{id}' has no datastore coffer runs.")))
}

/// Records a registered backup (RESTORED, no flow: its object is there) and its quota.
pub fn register_backup(
    conn: &mut DbConn,
    tenant: &str,
    req: &RegisterBackup,
    object: Registered,
    limits: &quota::Defaults,
) -> Result<Backup, ApiError> {
    write_tx(conn, |conn| {
        registration_manager(conn, req)?;
        over_quota(quota::consume(conn, limits, tenant, &[("backups", 1)])?)?;
        let b = Backup::registered(
            tenant,
            &req.datastore_version_id,
            &req.name,
            req.description.clone(),
            object.clone(),
        );
        b.insert(conn)?;
        Ok(b)
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Backup {id} could not be found."))
}

/// Datastores whose backups can be chained.
fn has_incrementals(manager: &str) -> bool {
    crate::manager::Manager::parse(manager).is_some_and(|m| m.has_incremental_backups())
}

/// Records a backup of an instance that can perform an action: row (NEW), quota, flow.
pub fn create_backup(
    conn: &mut DbConn,
    tenant: &str,
    req: &CreateBackup,
    heartbeat_expiry_ms: i64,
    deadline_ms: i64,
    limits: &quota::Defaults,
) -> Result<(Backup, Flow), ApiError> {
    write_tx(conn, |conn| {
        record_backup(conn, tenant, req, heartbeat_expiry_ms, deadline_ms, limits)
    })
}

/// [`create_backup`] inside a transaction the caller holds (a scheduled run claims its slot in
/// the same one).
pub fn record_backup(
    conn: &mut DbConn,
    tenant: &str,
    req: &CreateBackup,
    heartbeat_expiry_ms: i64,
    deadline_ms: i64,
    limits: &quota::Defaults,
) -> Result<(Backup, Flow), ApiError> {
    {
        let record = ready_for_action(conn, tenant, &req.instance_id, heartbeat_expiry_ms)?;
        let parent = match (&req.parent_id, req.incremental) {
            (Some(id), _) => {
                let parent = Backup::find_for(conn, Some(tenant), id)?.ok_or_else(|| not_found(id))?;
                if parent.instance_id != req.instance_id {
                    return Err(ApiError::BadRequest(format!(
                        "Backup {id} is a backup of another instance; an incremental backup chains on a backup of its own instance."
                    )));
                }
                if parent.state != backup::COMPLETED {
                    return Err(ApiError::Unprocessable(format!(
                        "Backup {id} is {} and cannot be a parent; it must be COMPLETED.",
                        parent.state
                    )));
                }
                refuse_if_being_deleted(conn, &parent.id)?;
                Some(parent)
            }
            (None, true) => match Backup::last_completed(conn, &req.instance_id)? {
                Some(parent) => {
                    refuse_if_being_deleted(conn, &parent.id)?;
                    Some(parent)
                }
                None => None,
            },
            (None, false) => None,
        };
        if parent.is_some() && !has_incrementals(&record.version.manager) {
            return Err(ApiError::NotImplemented(format!(
                "Incremental backups are not supported for datastore {}.",
                record.datastore.name
            )));
        }
        over_quota(quota::consume(conn, limits, tenant, &[("backups", 1)])?)?;
        let b = Backup::new(
            tenant,
            &req.instance_id,
            &record.version.id,
            &req.name,
            req.description.clone(),
            parent.map(|p| p.id),
        );
        // The unique index on running backups decides between concurrent requests.
        b.insert(conn).map_err(|e| match e {
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => ApiError::Unprocessable(format!("Instance {} is already running a backup.", req.instance_id)),
            other => other.into(),
        })?;
        let flow = Flow::new(
            flows::FlowKind::Backup,
            &b.id,
            &BackupState {
                instance_id: b.instance_id.clone(),
            },
            deadline_ms,
        );
        flow.insert(conn)?;
        Ok((b, flow))
    }
}

/// A backup cannot be chained on while it, or a backup it is chained on, is being deleted.
fn refuse_if_being_deleted(conn: &mut DbConn, parent_id: &str) -> Result<(), ApiError> {
    for ancestor in Backup::chain(conn, parent_id)? {
        if Flow::running_of_kind(conn, &ancestor.id, flows::FlowKind::DeleteBackup.name())?.is_some() {
            return Err(ApiError::Unprocessable(format!(
                "Backup {} is being deleted; an incremental backup cannot chain on it.",
                ancestor.id
            )));
        }
    }
    Ok(())
}

/// Records the deletion of a backup and of the backups chained on it; None when a deletion is
/// already under way.
pub fn delete_backup(
    conn: &mut DbConn,
    tenant: Option<&str>,
    id: &str,
    deadline_ms: i64,
) -> Result<Option<Flow>, ApiError> {
    write_tx(conn, |conn| {
        Backup::find_for(conn, tenant, id)?.ok_or_else(|| not_found(id))?;
        if let Some(running) = Backup::with_descendants(conn, id)?.iter().find(|b| b.is_running()) {
            return Err(ApiError::Unprocessable(format!(
                "Backup {} is running ({}); it can be deleted once it has ended.",
                running.id, running.state
            )));
        }
        if Flow::running_of_kind(conn, id, flows::FlowKind::DeleteBackup.name())?.is_some() {
            return Ok(None);
        }
        let flow = Flow::new(flows::FlowKind::DeleteBackup, id, &NoState {}, deadline_ms);
        flow.insert(conn)?;
        Ok(Some(flow))
    })
}

/// Marks the running backups of an instance FAILED and stops their flows (reset_status).
pub fn fail_running(conn: &mut DbConn, instance_id: &str) -> Result<(), DbError> {
    for b in Backup::of_instance(conn, instance_id)?
        .into_iter()
        .filter(|b| b.is_running())
    {
        Flow::cancel(conn, &b.id, flows::FlowKind::Backup.name())?;
    }
    Backup::fail_running_of(conn, instance_id, "reset_status: the backup was abandoned")?;
    Ok(())
}

/// What a restore loads: the backup, its chain as the guest needs it.
pub struct RestorePlan {
    pub backup: Backup,
    pub pieces: Vec<RestorePiece>,
}

impl RestorePlan {
    /// The backup's datastore version (a restore that names no datastore gets it).
    pub fn version(&self, conn: &mut DbConn) -> Result<(Datastore, DatastoreVersion), ApiError> {
        let version = DatastoreVersion::find(conn, &self.backup.datastore_version_id)?
            .ok_or_else(|| ApiError::NotFound("The backup's datastore version no longer exists.".into()))?;
        let ds = Datastore::find_by_id_or_name(conn, &version.datastore_id)?
            .ok_or_else(|| ApiError::NotFound("The backup's datastore no longer exists.".into()))?;
        Ok((ds, version))
    }

    /// A backup restores only into its own datastore.
    pub fn check_datastore(&self, version: &DatastoreVersion) -> Result<(), ApiError> {
        if version.id != self.backup.datastore_version_id {
            return Err(ApiError::BadRequest(format!(
                "Backup {} was taken of another datastore version than the one requested.",
                self.backup.id
            )));
        }
        Ok(())
    }
}

/// Trove's restore checks: the caller's backup, COMPLETED or RESTORED (else 409), not larger than the new
/// volume (else 403); and its chain, full backup first.
pub fn restore_plan(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    volume_gb: Option<i32>,
) -> Result<RestorePlan, ApiError> {
    let b = Backup::find_for(conn, Some(tenant), id)?.ok_or_else(|| not_found(id))?;
    if !b.is_restorable() {
        return Err(ApiError::Conflict(format!(
            "Backup {id} is not completed (its state is {}).",
            b.state
        )));
    }
    let chain =
        Backup::chain(conn, id).map_err(|e| ApiError::Conflict(format!("Backup {id} cannot be restored: {e}")))?;
    // What the restore writes: the dumps' uncompressed bytes (stored bytes for older rows).
    let stored: i64 = chain
        .iter()
        .map(|c| c.meta_json()["raw_bytes"].as_i64().or(c.size_bytes).unwrap_or(0))
        .sum();
    if let Some(gb) = volume_gb {
        if stored > gb as i64 * 1024 * 1024 * 1024 {
            return Err(ApiError::Forbidden(format!(
                "Backup {id} ({stored} bytes) is too large for a volume of {gb} GB."
            )));
        }
    }
    let mut pieces = Vec::with_capacity(chain.len());
    for c in &chain {
        if !c.is_restorable() {
            return Err(ApiError::Conflict(format!(
                "Backup {} of the chain is {}.",
                c.id, c.state
            )));
        }
        pieces.push(RestorePiece {
            backup_id: c.id.clone(),
            object_key: c.object_key.clone().unwrap_or_default(),
            checksum: c.checksum.clone().unwrap_or_default(),
            backup_type: c.backup_type.clone(),
            meta: c.meta_json(),
        });
    }
    Ok(RestorePlan { backup: b, pieces })
}
