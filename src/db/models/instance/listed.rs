//! What a page of a listing reads of each instance: only the columns its list view shows (the
//! show view's extra keys, the task's description, the configuration and the replication
//! secret stay in the table). A page reads 21 rows; every column not read is one less value
//! decoded and one less string allocated per row.

use crate::db::schema::{instances, service_statuses};
use crate::status::{ServiceStatus, StatusInputs, Task};
use diesel::prelude::*;

/// The columns of `instances` the list view shows (see [`super::Instance`] for each).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = instances)]
pub struct ListedInstance {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub flavor_id: String,
    pub volume_size: Option<i32>,
    pub datastore_version_id: String,
    pub task_id: i32,
    pub server_status: Option<String>,
    pub compute_instance_id: Option<String>,
    pub address: Option<String>,
    pub access: Option<String>,
    pub network_id: Option<String>,
    pub slave_of_id: Option<String>,
}

/// The columns of `service_statuses` the list view shows: the status and its heartbeat's time.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_statuses)]
pub struct ListedStatus {
    pub status_id: i32,
    pub updated_at: i64,
}

impl super::ListedRecord {
    /// What the status rules read of this instance, with the configured heartbeat expiry.
    pub fn status_inputs(&self, heartbeat_expiry_ms: i64) -> StatusInputs<'_> {
        status_inputs(
            self.instance.task_id,
            self.instance.server_status.as_deref(),
            self.service.status_id,
            self.service.updated_at,
            heartbeat_expiry_ms,
            self.backup_running,
        )
    }
}

/// The status rules' inputs from an instance's stored columns (its task code, server status,
/// service status code and last heartbeat's time), as of now; either record's.
pub(super) fn status_inputs(
    task_id: i32,
    server_status: Option<&str>,
    status_id: i32,
    heartbeat_at_ms: i64,
    heartbeat_expiry_ms: i64,
    backup_running: bool,
) -> StatusInputs<'_> {
    StatusInputs {
        task: Task::from_code(task_id),
        server_status,
        service: ServiceStatus::from_code(status_id),
        heartbeat_age_ms: crate::db::now_ms() - heartbeat_at_ms,
        heartbeat_expiry_ms,
        backup_running,
    }
}
