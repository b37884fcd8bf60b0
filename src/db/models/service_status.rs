//! `service_statuses`: the datastore service's status per instance and the time of its last
//! heartbeat. Unlike Trove, heartbeat expiry is also written here by a sweep, so the stored
//! status never claims a dead guest is healthy.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::{instances, service_statuses};
use crate::db::{now_ms, on_backend, DbConn, DbError};
use crate::status::{ServiceStatus, Task};
use diesel::prelude::*;

/// One heartbeat's status and time on SQLite, unless the stored status is sticky.
struct WriteHeartbeat;
impl StatementText for WriteHeartbeat {
    const SQL: &'static str = "UPDATE service_statuses \
                               SET status_id = ?, status_description = ?, updated_at = ? \
                               WHERE instance_id = ? AND status_id != ?";
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_statuses)]
pub struct ServiceStatusRow {
    pub id: String,
    pub instance_id: String,
    pub status_id: i32,
    pub status_description: String,
    pub updated_at: i64,
}

impl ServiceStatusRow {
    pub fn new(instance_id: &str, status: ServiceStatus) -> ServiceStatusRow {
        ServiceStatusRow {
            id: uuid::Uuid::new_v4().to_string(),
            instance_id: instance_id.to_string(),
            status_id: status.code(),
            status_description: status.description().to_string(),
            updated_at: now_ms(),
        }
    }

    pub fn status(&self) -> Option<ServiceStatus> {
        ServiceStatus::from_code(self.status_id)
    }

    pub fn find(conn: &mut DbConn, instance_id: &str) -> Result<Option<ServiceStatusRow>, DbError> {
        let row = service_statuses::table.filter(service_statuses::instance_id.eq(instance_id));
        Ok(on_backend!(conn, |c| row
            .select(ServiceStatusRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Sets the status (a control-plane decision, e.g. RESTARTING); like Trove's `save()` it
    /// also moves `updated_at`.
    pub fn set(conn: &mut DbConn, instance_id: &str, status: ServiceStatus) -> Result<(), DbError> {
        diesel::update(service_statuses::table.filter(service_statuses::instance_id.eq(instance_id)))
            .set((
                service_statuses::status_id.eq(status.code()),
                service_statuses::status_description.eq(status.description()),
                service_statuses::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Writes the heartbeats' statuses and time for many instances (each at most once; on SQLite
    /// a cached UPDATE each, on PostgreSQL one statement), except over RESTART_REQUIRED (sticky
    /// until a restart clears it, as in Trove); returns the instances whose status was written.
    pub fn apply_heartbeats(
        conn: &mut DbConn,
        statuses: &[(&str, ServiceStatus)],
        at_ms: i64,
    ) -> Result<Vec<String>, DbError> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let keep = ServiceStatus::RestartRequired.code();
        match conn {
            DbConn::Sqlite(c) => {
                let mut written = Vec::with_capacity(statuses.len());
                for &(id, status) in statuses {
                    let n = Cached::<WriteHeartbeat>::new(&[
                        Bind::Integer(status.code()),
                        Bind::Text(status.description()),
                        Bind::BigInt(at_ms),
                        Bind::Text(id),
                        Bind::Integer(keep),
                    ])
                    .execute(c)?;
                    if n == 1 {
                        written.push(id.to_string());
                    }
                }
                Ok(written)
            }
            DbConn::Pg(c) => Self::apply_heartbeats_pg(c, statuses, at_ms, keep),
        }
    }

    fn apply_heartbeats_pg(
        c: &mut PgConnection,
        statuses: &[(&str, ServiceStatus)],
        at_ms: i64,
        keep: i32,
    ) -> Result<Vec<String>, DbError> {
        use crate::db::models::lastseen::InstanceIdRow;
        use diesel::sql_types::{BigInt, Integer, Text};
        let rows: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(id, s)| serde_json::json!({"id": id, "code": s.code(), "descr": s.description()}))
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        let written: Vec<InstanceIdRow> = diesel::sql_query(
            "UPDATE service_statuses SET status_id = j.code, status_description = j.descr, updated_at = $1 \
             FROM json_to_recordset($2::json) AS j(id text, code int, descr text) \
             WHERE service_statuses.instance_id = j.id AND service_statuses.status_id != $3 \
             RETURNING service_statuses.instance_id",
        )
        .bind::<BigInt, _>(at_ms)
        .bind::<Text, _>(rows)
        .bind::<Integer, _>(keep)
        .load(c)?;
        Ok(written.into_iter().map(|r| r.instance_id).collect())
    }

    /// Stores expiry: services of idle instances whose last heartbeat is older than `expiry_ms`
    /// become FAILED_TIMEOUT_GUESTAGENT. `updated_at` keeps the last heartbeat's time.
    pub fn sweep_expired(conn: &mut DbConn, expiry_ms: i64) -> Result<usize, DbError> {
        let cutoff = now_ms() - expiry_ms;
        let idle = instances::table
            .filter(instances::task_id.eq_any([Task::None.code(), Task::RestartRequired.code()]))
            .filter(instances::deleted.eq(false))
            .select(instances::id);
        let keep = [
            ServiceStatus::RestartRequired.code(),
            ServiceStatus::FailedTimeoutGuestagent.code(),
            ServiceStatus::Deleted.code(),
        ];
        let n = diesel::update(
            service_statuses::table
                .filter(service_statuses::updated_at.lt(cutoff))
                .filter(service_statuses::status_id.ne_all(keep))
                .filter(service_statuses::instance_id.eq_any(idle)),
        )
        .set((
            service_statuses::status_id.eq(ServiceStatus::FailedTimeoutGuestagent.code()),
            service_statuses::status_description.eq(ServiceStatus::FailedTimeoutGuestagent.description()),
        ))
        .execute(conn)?;
        Ok(n)
    }
}
