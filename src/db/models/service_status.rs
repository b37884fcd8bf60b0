//! `service_statuses`: the datastore service's status per instance and the time of its last
//! heartbeat. Unlike Trove, heartbeat expiry is also written here by a sweep, so the stored
//! status never claims a dead guest is healthy.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::{instances, service_statuses};
use crate::db::{now_ms, on_backend, DbConn, DbError};
use crate::status::{ServiceStatus, Task};
use diesel::prelude::*;

/// A heartbeat newer than the last applied one, on SQLite: its `sent` becomes the last applied
/// one and its status is written, unless the stored status is sticky (the `?` of each CASE).
/// The stale check and the write are one statement (Trove writes two rows per heartbeat). A
/// deleted instance's row takes none (the last `?`): a late heartbeat is stale.
struct WriteNewerHeartbeat;
impl StatementText for WriteNewerHeartbeat {
    const SQL: &'static str = "UPDATE service_statuses SET heartbeat_sent = ?, \
                               status_id = CASE status_id WHEN ? THEN status_id ELSE ? END, \
                               status_description = CASE status_id WHEN ? THEN status_description ELSE ? END, \
                               updated_at = CASE status_id WHEN ? THEN updated_at ELSE ? END \
                               WHERE instance_id = ? AND heartbeat_sent < ? AND status_id != ?";
}

/// A heartbeat newer than the last applied one whose status is not known here: only its
/// `sent` is taken.
struct TakeNewerSent;
impl StatementText for TakeNewerSent {
    const SQL: &'static str = "UPDATE service_statuses SET heartbeat_sent = ? \
                               WHERE instance_id = ? AND heartbeat_sent < ? AND status_id != ?";
}

/// A heartbeat without `sent` (no stale check possible): its status is written unless sticky
/// or the instance is deleted.
struct WriteUnsentHeartbeat;
impl StatementText for WriteUnsentHeartbeat {
    const SQL: &'static str = "UPDATE service_statuses \
                               SET status_id = ?, status_description = ?, updated_at = ? \
                               WHERE instance_id = ? AND status_id != ? AND status_id != ?";
}

/// One heartbeat as a row of the batch's `json_to_recordset` (PostgreSQL), serialized as it is.
#[derive(serde::Serialize)]
struct HeartbeatRecord<'a> {
    id: &'a str,
    sent: Option<f64>,
    code: Option<i32>,
    descr: Option<&'static str>,
}

/// One heartbeat to apply: its instance, its `sent` (the guest's clock) and the status it
/// reports, if known.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatWrite<'a> {
    pub instance_id: &'a str,
    pub sent: Option<f64>,
    pub status: Option<ServiceStatus>,
}

/// An instance id a statement returns.
#[derive(QueryableByName)]
struct InstanceIdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    instance_id: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_statuses)]
pub struct ServiceStatusRow {
    pub id: String,
    pub instance_id: String,
    pub status_id: i32,
    pub status_description: String,
    pub updated_at: i64,
    /// The `sent` of the newest heartbeat applied (0 before the first).
    pub heartbeat_sent: f64,
}

impl ServiceStatusRow {
    pub fn new(instance_id: &str, status: ServiceStatus) -> ServiceStatusRow {
        ServiceStatusRow {
            id: uuid::Uuid::new_v4().to_string(),
            instance_id: instance_id.to_string(),
            status_id: status.code(),
            status_description: status.description().to_string(),
            updated_at: now_ms(),
            heartbeat_sent: 0.0,
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

    /// Applies heartbeats of many instances (each at most once), at `at_ms`: a heartbeat
    /// whose `sent` is not newer than the last applied one changes nothing (Trove's stale
    /// check: older or equal is dropped); one without `sent` is not checked. An applied one
    /// writes its status and time, except over RESTART_REQUIRED (sticky until a restart clears
    /// it, as in Trove). A deleted instance takes no heartbeat (one still in flight when it was
    /// deleted, or from a guest that outlived it), so DELETED stays. Returns, in order, whether
    /// each passed. On SQLite a cached UPDATE each; on PostgreSQL one statement for the batch,
    /// after its rows are locked in instance order (so concurrent conductors cannot deadlock).
    pub fn apply_heartbeats(
        conn: &mut DbConn,
        heartbeats: &[HeartbeatWrite<'_>],
        at_ms: i64,
    ) -> Result<Vec<bool>, DbError> {
        if heartbeats.is_empty() {
            return Ok(Vec::new());
        }
        let keep = ServiceStatus::RestartRequired.code();
        let deleted = ServiceStatus::Deleted.code();
        match conn {
            DbConn::Sqlite(c) => heartbeats
                .iter()
                .map(|hb| Ok(Self::apply_heartbeat_sqlite(c, hb, at_ms, keep, deleted)? == 1))
                .collect(),
            DbConn::Pg(c) => Self::apply_heartbeats_pg(c, heartbeats, at_ms, keep, deleted),
        }
    }

    fn apply_heartbeat_sqlite(
        c: &mut SqliteConnection,
        hb: &HeartbeatWrite<'_>,
        at_ms: i64,
        keep: i32,
        deleted: i32,
    ) -> Result<usize, DbError> {
        let id = hb.instance_id;
        Ok(match (hb.sent, hb.status) {
            (Some(sent), Some(status)) => Cached::<WriteNewerHeartbeat>::new(&[
                Bind::Double(sent),
                Bind::Integer(keep),
                Bind::Integer(status.code()),
                Bind::Integer(keep),
                Bind::Text(status.description()),
                Bind::Integer(keep),
                Bind::BigInt(at_ms),
                Bind::Text(id),
                Bind::Double(sent),
                Bind::Integer(deleted),
            ])
            .execute(c)?,
            (Some(sent), None) => Cached::<TakeNewerSent>::new(&[
                Bind::Double(sent),
                Bind::Text(id),
                Bind::Double(sent),
                Bind::Integer(deleted),
            ])
            .execute(c)?,
            (None, Some(status)) => Cached::<WriteUnsentHeartbeat>::new(&[
                Bind::Integer(status.code()),
                Bind::Text(status.description()),
                Bind::BigInt(at_ms),
                Bind::Text(id),
                Bind::Integer(keep),
                Bind::Integer(deleted),
            ])
            .execute(c)?,
            (None, None) => 0,
        })
    }

    fn apply_heartbeats_pg(
        c: &mut PgConnection,
        heartbeats: &[HeartbeatWrite<'_>],
        at_ms: i64,
        keep: i32,
        deleted: i32,
    ) -> Result<Vec<bool>, DbError> {
        use diesel::sql_types::{BigInt, Integer, Text};
        let rows: Vec<HeartbeatRecord<'_>> = heartbeats
            .iter()
            .map(|hb| HeartbeatRecord {
                id: hb.instance_id,
                sent: hb.sent,
                code: hb.status.map(|s| s.code()),
                descr: hb.status.map(|s| s.description()),
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::sql_query(
            "SELECT instance_id FROM service_statuses \
             WHERE instance_id IN (SELECT j.id FROM json_to_recordset($1::json) AS j(id text)) \
             ORDER BY instance_id FOR UPDATE",
        )
        .bind::<Text, _>(&rows)
        .load::<InstanceIdRow>(c)?;
        // In SET, `s.` is the row as it was; a status unknown here (`code` null) or a sticky one
        // is left as it is, and so is its time.
        let passed: Vec<InstanceIdRow> = diesel::sql_query(
            "UPDATE service_statuses AS s SET \
               heartbeat_sent = COALESCE(j.sent, s.heartbeat_sent), \
               status_id = CASE WHEN j.code IS NULL OR s.status_id = $2 THEN s.status_id ELSE j.code END, \
               status_description = CASE WHEN j.code IS NULL OR s.status_id = $2 \
                 THEN s.status_description ELSE j.descr END, \
               updated_at = CASE WHEN j.code IS NULL OR s.status_id = $2 THEN s.updated_at ELSE $3 END \
             FROM json_to_recordset($1::json) AS j(id text, sent float8, code int, descr text) \
             WHERE s.instance_id = j.id AND s.status_id != $4 \
               AND (j.sent IS NULL OR s.heartbeat_sent < j.sent) \
               AND (j.sent IS NOT NULL OR (j.code IS NOT NULL AND s.status_id != $2)) \
             RETURNING s.instance_id",
        )
        .bind::<Text, _>(rows)
        .bind::<Integer, _>(keep)
        .bind::<BigInt, _>(at_ms)
        .bind::<Integer, _>(deleted)
        .load(c)?;
        let passed: std::collections::HashSet<String> = passed.into_iter().map(|r| r.instance_id).collect();
        Ok(heartbeats.iter().map(|hb| passed.contains(hb.instance_id)).collect())
    }

    /// The `sent` of the newest heartbeat of `instance_id` applied (0 before the first).
    pub fn heartbeat_sent(conn: &mut DbConn, instance_id: &str) -> Result<Option<f64>, DbError> {
        Ok(service_statuses::table
            .filter(service_statuses::instance_id.eq(instance_id))
            .select(service_statuses::heartbeat_sent)
            .first(conn)
            .optional()?)
    }

    /// Every instance's newest applied heartbeat `sent` (for the conductor benchmark).
    pub fn heartbeats_sent(conn: &mut DbConn) -> Result<Vec<(String, f64)>, DbError> {
        Ok(service_statuses::table
            .select((service_statuses::instance_id, service_statuses::heartbeat_sent))
            .load(conn)?)
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
