//! What a page of a listing reads of each instance: only the columns its list views show (the
//! detail list's `created`, `updated` and server version among them; the task's description,
//! the configuration and the replication secret stay in the table). A page reads `limit + 1` rows; every column not read is one less
//! value decoded and one less string allocated per row. Also the status rules' inputs of
//! either kind of record, from the columns both have.

use super::{Instance, InstanceRecord};
use crate::db::models::service_status::ServiceStatusRow;
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
    pub created: i64,
    pub updated: i64,
    pub server_version: Option<String>,
}

/// The columns of `service_statuses` the list view shows: the status and its heartbeat's time.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_statuses)]
pub struct ListedStatus {
    pub status_id: i32,
    pub updated_at: i64,
}

/// What the status rules read of an instance's own row, whole or listed.
pub trait TaskColumns {
    fn task_id(&self) -> i32;
    fn server_status(&self) -> Option<&str>;
}

/// What the status rules read of an instance's status row, whole or listed.
pub trait HeartbeatColumns {
    fn status_id(&self) -> i32;
    /// When the last heartbeat (or status decision) was written, in ms.
    fn heartbeat_at_ms(&self) -> i64;
}

macro_rules! task_columns {
    ($($row:ty),*) => {$(
        impl TaskColumns for $row {
            fn task_id(&self) -> i32 {
                self.task_id
            }
            fn server_status(&self) -> Option<&str> {
                self.server_status.as_deref()
            }
        }
    )*};
}
task_columns!(Instance, ListedInstance);

macro_rules! heartbeat_columns {
    ($($row:ty),*) => {$(
        impl HeartbeatColumns for $row {
            fn status_id(&self) -> i32 {
                self.status_id
            }
            fn heartbeat_at_ms(&self) -> i64 {
                self.updated_at
            }
        }
    )*};
}
heartbeat_columns!(ServiceStatusRow, ListedStatus);

impl<I: TaskColumns, S: HeartbeatColumns> InstanceRecord<I, S> {
    /// What the status rules read of this instance, with the configured heartbeat expiry.
    pub fn status_inputs(&self, heartbeat_expiry_ms: i64) -> StatusInputs<'_> {
        StatusInputs {
            task: Task::from_code(self.instance.task_id()),
            server_status: self.instance.server_status(),
            service: ServiceStatus::from_code(self.service.status_id()),
            heartbeat_age_ms: crate::db::now_ms() - self.service.heartbeat_at_ms(),
            heartbeat_expiry_ms,
            backup_running: self.backup_running,
        }
    }
}
