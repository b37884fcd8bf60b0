//! The cluster's view of itself: `services` (every coffer process, refreshed while it lives),
//! `supervision_events` (every process's actor starts, stops, restarts, failures and flow
//! takeovers) and `cluster_leases` (jobs one process does at a time).

use crate::db::schema::{cluster_leases, services, supervision_events};
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

/// One coffer process: its row, and what a process reports of itself (a pool's through a
/// conductor).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = services)]
#[diesel(treat_none_as_null = true)]
pub struct ServiceRow {
    pub id: String,
    /// api | conductor | taskmanager | all | guest_pool
    pub role: String,
    pub node_id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started: i64,
    pub last_seen: i64,
    pub telemetry_url: Option<String>,
    /// A guest pool's capacity and the guests it hosts.
    pub capacity: Option<i64>,
    pub hosted: Option<i64>,
    /// Its actors as it last reported them ([`SupervisionLog::summary`](crate::telemetry::supervision::SupervisionLog::summary), JSON).
    #[serde(default)]
    pub actors: Option<String>,
}

/// How long rows of processes that are gone are kept (a day).
const GONE_KEPT_MS: i64 = 24 * 3600 * 1000;

impl ServiceRow {
    /// This process, in `role`, named `node_id`.
    pub fn this_process(role: &str, node_id: &str) -> ServiceRow {
        let now = now_ms();
        ServiceRow {
            id: uuid::Uuid::new_v4().to_string(),
            role: role.to_string(),
            node_id: node_id.to_string(),
            host: crate::config::host_name(),
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started: now,
            last_seen: now,
            telemetry_url: None,
            capacity: None,
            hosted: None,
            actors: None,
        }
    }

    /// Inserts or refreshes the row (its `last_seen` is now).
    pub fn report(conn: &mut DbConn, row: &ServiceRow) -> Result<(), DbError> {
        let mut row = row.clone();
        row.last_seen = now_ms();
        let updated = diesel::update(services::table.find(&row.id)).set(&row).execute(conn)?;
        if updated == 0 {
            diesel::insert_into(services::table).values(&row).execute(conn)?;
        }
        Ok(())
    }

    /// Drops the rows of processes gone for a day (the reporters do it now and then).
    pub fn forget_gone(conn: &mut DbConn) -> Result<usize, DbError> {
        Ok(diesel::delete(services::table.filter(services::last_seen.lt(now_ms() - GONE_KEPT_MS))).execute(conn)?)
    }

    /// Every process seen within the last day, by role and node.
    pub fn list(conn: &mut DbConn) -> Result<Vec<ServiceRow>, DbError> {
        Ok(services::table
            .order((services::role.asc(), services::node_id.asc(), services::started.asc()))
            .select(ServiceRow::as_select())
            .load(conn)?)
    }

    /// Processes other than `except` of `role` with this node id seen after `since`.
    pub fn live_with_node(
        conn: &mut DbConn,
        node_id: &str,
        roles: &[&str],
        since: i64,
        except: &str,
    ) -> Result<Vec<ServiceRow>, DbError> {
        Ok(services::table
            .filter(services::node_id.eq(node_id))
            .filter(services::role.eq_any(roles))
            .filter(services::last_seen.ge(since))
            .filter(services::id.ne(except))
            .select(ServiceRow::as_select())
            .load(conn)?)
    }

    /// Marks a process gone (at a clean stop).
    pub fn remove(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
        diesel::delete(services::table.find(id)).execute(conn)?;
        Ok(())
    }
}

/// A stored supervision event.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = supervision_events)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub service_id: String,
    pub node_id: String,
    pub kind: String,
    pub actor_id: String,
    pub event: String,
    pub reason: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = supervision_events)]
pub struct NewEvent {
    pub at: i64,
    pub service_id: String,
    pub node_id: String,
    pub kind: String,
    pub actor_id: String,
    pub event: String,
    pub reason: String,
}

/// How many events are kept (the oldest go first).
const EVENTS_KEPT: i64 = 200_000;

impl EventRow {
    pub fn insert(conn: &mut DbConn, events: &[NewEvent]) -> Result<(), DbError> {
        // Multi-row inserts are offered per backend, not through the multi-backend connection.
        for chunk in events.chunks(500) {
            let rows = chunk.to_vec();
            match conn {
                DbConn::Sqlite(c) => diesel::insert_into(supervision_events::table).values(rows).execute(c)?,
                DbConn::Pg(c) => diesel::insert_into(supervision_events::table).values(rows).execute(c)?,
            };
        }
        Ok(())
    }

    /// Events after `marker`, oldest first, at most `limit + 1` (the extra one says more follow).
    pub fn page(conn: &mut DbConn, limit: i64, marker: Option<i64>) -> Result<Vec<EventRow>, DbError> {
        Ok(supervision_events::table
            .filter(supervision_events::id.gt(marker.unwrap_or(0)))
            .order(supervision_events::id.asc())
            .limit(limit + 1)
            .select(EventRow::as_select())
            .load(conn)?)
    }

    /// The newest `count` events, oldest first.
    pub fn latest(conn: &mut DbConn, count: i64) -> Result<Vec<EventRow>, DbError> {
        let mut rows: Vec<EventRow> = supervision_events::table
            .order(supervision_events::id.desc())
            .limit(count)
            .select(EventRow::as_select())
            .load(conn)?;
        rows.reverse();
        Ok(rows)
    }

    /// Drops all but the newest [`EVENTS_KEPT`] events.
    pub fn trim(conn: &mut DbConn) -> Result<usize, DbError> {
        let newest: Option<i64> = supervision_events::table
            .select(diesel::dsl::max(supervision_events::id))
            .first(conn)?;
        let Some(newest) = newest.filter(|n| *n > EVENTS_KEPT) else {
            return Ok(0);
        };
        Ok(
            diesel::delete(supervision_events::table.filter(supervision_events::id.le(newest - EVENTS_KEPT)))
                .execute(conn)?,
        )
    }
}

/// A cluster-wide job's lease: (name, owner, until when, in ms).
pub fn leases(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>, DbError> {
    Ok(cluster_leases::table
        .select((cluster_leases::name, cluster_leases::owner, cluster_leases::lease_until))
        .order(cluster_leases::name.asc())
        .load(conn)?)
}

/// Takes or renews the lease `name` for `owner`; true when `owner` holds it now.
pub fn hold_lease(conn: &mut DbConn, name: &str, owner: &str, lease_ms: i64) -> Result<bool, DbError> {
    let now = now_ms();
    let taken = diesel::update(
        cluster_leases::table
            .find(name)
            .filter(cluster_leases::owner.eq(owner).or(cluster_leases::lease_until.lt(now))),
    )
    .set((
        cluster_leases::owner.eq(owner),
        cluster_leases::lease_until.eq(now + lease_ms),
    ))
    .execute(conn)?;
    if taken == 1 {
        return Ok(true);
    }
    let exists: i64 = cluster_leases::table.find(name).count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    // First holder ever; a concurrent first insert makes this one fail, and it is not ours.
    let inserted = diesel::insert_into(cluster_leases::table)
        .values((
            cluster_leases::name.eq(name),
            cluster_leases::owner.eq(owner),
            cluster_leases::lease_until.eq(now + lease_ms),
        ))
        .execute(conn);
    Ok(inserted.is_ok())
}

/// The deployment's fact `name`, if recorded.
pub fn known_fact(conn: &mut DbConn, name: &str) -> Result<Option<String>, DbError> {
    use crate::db::schema::deployment_facts as facts;
    Ok(facts::table.find(name).select(facts::value).first(conn).optional()?)
}

/// Records `value` as the deployment's fact `name` unless it has one; returns the one it has.
pub fn settle_fact(conn: &mut DbConn, name: &str, value: &str) -> Result<String, DbError> {
    use crate::db::schema::deployment_facts as facts;
    let known: Option<String> = facts::table.find(name).select(facts::value).first(conn).optional()?;
    if let Some(known) = known {
        return Ok(known);
    }
    // A concurrent first writer wins; its value is read back.
    let _ = diesel::insert_into(facts::table)
        .values((facts::name.eq(name), facts::value.eq(value)))
        .execute(conn);
    Ok(facts::table.find(name).select(facts::value).first(conn)?)
}
