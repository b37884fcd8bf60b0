//! The instances a host takes up: those with a server (re-adopted by compute when its process
//! starts) and the simulated guests a dead pool left (re-hosted by the guest watch), each with
//! whether its guest had prepared its datastore, so that the guest hosted again starts so.

use super::Instance;
use crate::db::schema::{datastore_versions, instances, service_statuses};
use crate::db::{DbConn, DbError};
use crate::status::{guest_was_prepared, ServiceStatus, Task};
use diesel::prelude::*;

impl Instance {
    /// Live instances that have a server.
    pub fn with_servers(conn: &mut DbConn) -> Result<Vec<Instance>, DbError> {
        Ok(instances::table
            .filter(instances::deleted.eq(false))
            .filter(instances::compute_instance_id.is_not_null())
            .select(Instance::as_select())
            .load(conn)?)
    }

    /// Instances with a server, each with whether its guest had prepared its datastore (see
    /// [`crate::status::guest_was_prepared`]): what a restarted host adopts.
    pub fn with_servers_prepared(conn: &mut DbConn) -> Result<Vec<(Instance, bool)>, DbError> {
        let rows: Vec<(Instance, Option<i32>)> = instances::table
            .left_join(service_statuses::table.on(service_statuses::instance_id.eq(instances::id)))
            .filter(instances::deleted.eq(false))
            .filter(instances::compute_instance_id.is_not_null())
            .select((Instance::as_select(), service_statuses::status_id.nullable()))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(inst, status)| {
                let prepared = guest_was_prepared(inst.task(), status.and_then(ServiceStatus::from_code));
                (inst, prepared)
            })
            .collect())
    }

    /// Simulated instances with a server whose guest was heard of, but not since `cutoff` (a
    /// dead pool's), at most `limit`, as (id, prepared); deletes are left alone.
    pub fn silent_pool_guests(conn: &mut DbConn, cutoff: i64, limit: i64) -> Result<Vec<(String, bool)>, DbError> {
        let rows: Vec<(String, i32, i32)> = instances::table
            .inner_join(datastore_versions::table)
            .inner_join(service_statuses::table.on(service_statuses::instance_id.eq(instances::id)))
            .filter(instances::deleted.eq(false))
            .filter(instances::compute_instance_id.is_not_null())
            .filter(instances::task_id.ne(Task::Deleting.code()))
            .filter(datastore_versions::manager.eq(crate::manager::Manager::Simulated.as_str()))
            .filter(service_statuses::updated_at.lt(cutoff))
            // A guest never heard of (NEW) was never hosted: its host_guest still waits in the
            // pools' queue, and asking again would only pile up duplicates.
            .filter(service_statuses::status_id.ne(crate::status::ServiceStatus::New.code()))
            .order(service_statuses::updated_at.asc())
            .limit(limit)
            .select((instances::id, instances::task_id, service_statuses::status_id))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, task, status)| {
                (
                    id,
                    guest_was_prepared(Task::from_code(task), ServiceStatus::from_code(status)),
                )
            })
            .collect())
    }
}
