//! `flows`: each long operation (create, delete, restart…) as a persisted state machine.
//!
//! The row records the step reached before the next begins, who runs it (`owner`) and until when
//! (`lease_until`), and the operation's deadline. Every write that moves a flow is conditional on
//! the step and owner it expects, so a stale actor or another node can never move it backwards.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::flows;
use crate::db::{now_ms, on_backend, write_alone, DbConn, DbError};
use diesel::prelude::*;

pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = flows)]
pub struct Flow {
    pub id: String,
    pub kind: String,
    pub target_id: String,
    pub step: i32,
    /// JSON: what the flow needs to resume (never passwords).
    pub state: String,
    pub status: String,
    pub owner: Option<String>,
    pub lease_until: i64,
    pub deadline: i64,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created: i64,
    pub updated: i64,
    /// The API request that recorded the flow (`X-Openstack-Request-Id`), for its logs.
    pub request_id: Option<String>,
}

/// What [`Flow::claim_all`] found.
pub struct Claimed {
    /// (target, flow kind) of every running flow now ours.
    pub targets: Vec<(String, String)>,
    /// (previous owner, flows taken from it) for each owner whose lease had expired.
    pub taken_over: Vec<(String, i64)>,
}

impl Flow {
    /// Its state as its kind's type (see [`crate::flows::state`]).
    pub fn state<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.state)
    }

    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        on_backend!(conn, |c| diesel::insert_into(flows::table).values(self).execute(c))?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Flow>, DbError> {
        Ok(flows::table.find(id).select(Flow::as_select()).first(conn).optional()?)
    }

    /// Claims every running flow that is unowned, ours, or whose lease expired (this also renews
    /// our leases); returns the (target, flow kind) pairs we now own, and how many flows were
    /// taken over from each other owner whose lease had expired.
    pub fn claim_all(conn: &mut DbConn, node: &str, lease_ms: i64) -> Result<Claimed, DbError> {
        crate::db::write_tx(conn, |conn| {
            let now = now_ms();
            let expired = flows::table
                .filter(flows::status.eq(RUNNING))
                .filter(flows::owner.ne(node))
                .filter(flows::lease_until.lt(now));
            let taken_over: Vec<(Option<String>, i64)> = expired
                .group_by(flows::owner)
                .select((flows::owner, diesel::dsl::count_star()))
                .load(conn)?;
            diesel::update(
                flows::table.filter(flows::status.eq(RUNNING)).filter(
                    flows::owner
                        .is_null()
                        .or(flows::owner.eq(node))
                        .or(flows::lease_until.lt(now)),
                ),
            )
            .set((flows::owner.eq(node), flows::lease_until.eq(now + lease_ms)))
            .execute(conn)?;
            let targets = flows::table
                .filter(flows::status.eq(RUNNING))
                .filter(flows::owner.eq(node))
                .select((flows::target_id, flows::kind))
                .distinct()
                .load(conn)?;
            Ok(Claimed {
                targets,
                taken_over: taken_over
                    .into_iter()
                    .filter_map(|(owner, n)| owner.map(|o| (o, n)))
                    .collect(),
            })
        })
    }

    /// Claims the running flows of one target (on a cast); false when another node holds them.
    pub fn claim_target(conn: &mut DbConn, target: &str, node: &str, lease_ms: i64) -> Result<bool, DbError> {
        struct ClaimTarget;
        impl StatementText for ClaimTarget {
            const SQL: &'static str = "UPDATE flows SET owner = ?, lease_until = ? \
                WHERE target_id = ? AND status = ? AND (owner IS NULL OR owner = ? OR lease_until < ?)";
        }
        let now = now_ms();
        let binds = [
            Bind::Text(node),
            Bind::BigInt(now + lease_ms),
            Bind::Text(target),
            Bind::Text(RUNNING),
            Bind::Text(node),
            Bind::BigInt(now),
        ];
        let n = write_alone(conn, |conn| {
            on_backend!(conn, |c| Cached::<ClaimTarget>::new(&binds).execute(c)).map_err(DbError::from)
        })?;
        // The rows already ours match the filter too (their lease renewed): what was updated is
        // what we own.
        Ok(n > 0)
    }

    /// The oldest running flow of `target` that `node` owns.
    pub fn next_for_target(conn: &mut DbConn, target: &str, node: &str) -> Result<Option<Flow>, DbError> {
        // Read at least three times by every create: on the backend's own connection, its text
        // is rendered once per connection (see `on_backend`).
        let next = flows::table
            .filter(flows::target_id.eq(target))
            .filter(flows::status.eq(RUNNING))
            .filter(flows::owner.eq(node))
            .order((flows::created.asc(), flows::id.asc()));
        Ok(on_backend!(conn, |c| next
            .select(Flow::as_select())
            .first(c)
            .optional())?)
    }

    /// The running flow of `kind` for `target`, if any.
    pub fn running_of_kind(conn: &mut DbConn, target: &str, kind: &str) -> Result<Option<Flow>, DbError> {
        Ok(flows::table
            .filter(flows::target_id.eq(target))
            .filter(flows::kind.eq(kind))
            .filter(flows::status.eq(RUNNING))
            .select(Flow::as_select())
            .first(conn)
            .optional()?)
    }

    /// Moves the flow from `from` to `to` with its new state; false if the row moved on without
    /// us (cancelled, finished, or taken over), in which case the caller must stop.
    pub fn advance(conn: &mut DbConn, id: &str, node: &str, from: i32, to: i32, state: &str) -> Result<bool, DbError> {
        struct Advance;
        impl StatementText for Advance {
            const SQL: &'static str = "UPDATE flows \
                SET step = ?, state = ?, attempts = 0, last_error = NULL, updated = ? \
                WHERE id = ? AND step = ? AND status = ? AND owner = ?";
        }
        let binds = [
            Bind::Integer(to),
            Bind::Text(state),
            Bind::BigInt(now_ms()),
            Bind::Text(id),
            Bind::Integer(from),
            Bind::Text(RUNNING),
            Bind::Text(node),
        ];
        let n = write_alone(conn, |conn| {
            on_backend!(conn, |c| Cached::<Advance>::new(&binds).execute(c)).map_err(DbError::from)
        })?;
        Ok(n == 1)
    }

    /// The row as a successful [`advance`](Self::advance) to the next step with `state` leaves
    /// it (so the runner goes on without reading it back).
    pub fn advanced(&self, state: String) -> Flow {
        Flow {
            step: self.step + 1,
            state,
            attempts: 0,
            last_error: None,
            updated: now_ms(),
            ..self.clone()
        }
    }

    /// Ends the flow with `status` (done, failed); false if it was no longer ours to end.
    pub fn finish(conn: &mut DbConn, id: &str, node: &str, status: &str, error: Option<&str>) -> Result<bool, DbError> {
        struct Finish;
        impl StatementText for Finish {
            const SQL: &'static str = "UPDATE flows SET status = ?, last_error = ?, updated = ? \
                WHERE id = ? AND status = ? AND owner = ?";
        }
        let binds = [
            Bind::Text(status),
            Bind::OptText(error),
            Bind::BigInt(now_ms()),
            Bind::Text(id),
            Bind::Text(RUNNING),
            Bind::Text(node),
        ];
        let n = write_alone(conn, |conn| {
            on_backend!(conn, |c| Cached::<Finish>::new(&binds).execute(c)).map_err(DbError::from)
        })?;
        Ok(n == 1)
    }

    /// Counts a failed attempt at the current step; returns the attempts so far.
    pub fn record_failure(conn: &mut DbConn, id: &str, error: &str) -> Result<i32, DbError> {
        diesel::update(flows::table.find(id))
            .set((
                flows::attempts.eq(flows::attempts + 1),
                flows::last_error.eq(Some(error)),
                flows::updated.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(flows::table.find(id).select(flows::attempts).first(conn)?)
    }

    /// Cancels the running flows of `kind` for `target` (e.g. a create, when a delete arrives);
    /// the flow's actor notices at its next step boundary.
    pub fn cancel(conn: &mut DbConn, target: &str, kind: &str) -> Result<usize, DbError> {
        Ok(diesel::update(
            flows::table
                .filter(flows::target_id.eq(target))
                .filter(flows::kind.eq(kind))
                .filter(flows::status.eq(RUNNING)),
        )
        .set((flows::status.eq(CANCELLED), flows::updated.eq(now_ms())))
        .execute(conn)?)
    }

    /// Cancels every running flow of `target` except those of `kind` (a delete stops the rest);
    /// returns the flows this call cancelled (each by a conditional update, so a flow that
    /// ended meanwhile is not among them).
    pub fn cancel_all_but(conn: &mut DbConn, target: &str, kind: &str) -> Result<Vec<Flow>, DbError> {
        let running: Vec<Flow> = flows::table
            .filter(flows::target_id.eq(target))
            .filter(flows::kind.ne(kind))
            .filter(flows::status.eq(RUNNING))
            .select(Flow::as_select())
            .load(conn)?;
        let mut cancelled = Vec::with_capacity(running.len());
        for flow in running {
            let n = diesel::update(flows::table.find(&flow.id).filter(flows::status.eq(RUNNING)))
                .set((flows::status.eq(CANCELLED), flows::updated.eq(now_ms())))
                .execute(conn)?;
            if n == 1 {
                cancelled.push(flow);
            }
        }
        Ok(cancelled)
    }

    /// (status, count) over all flows, for `/metrics`.
    pub fn count_by_status(conn: &mut DbConn) -> Result<Vec<(String, i64)>, DbError> {
        use diesel::dsl::count_star;
        Ok(flows::table
            .group_by(flows::status)
            .select((flows::status, count_star()))
            .load(conn)?)
    }
}
