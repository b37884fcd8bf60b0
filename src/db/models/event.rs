//! `events`: what the event stream serves, written by triggers in the transaction of every
//! change it reports (see the migration `events`); read here in id order, and trimmed.

use crate::db::schema::events;
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

/// One stored event: a change of `target_id` (an instance, a backup, a flow's target, an
/// actor), with the stored facts the API renders it from.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct StoredEvent {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// None: an operator's event (supervision), for admins only.
    pub project_id: Option<String>,
    /// instance | backup | flow | supervision
    pub kind: String,
    pub target_id: String,
    /// A JSON object of the stored columns behind it.
    pub facts: String,
}

/// Which events a reader wants; `None` everywhere: all of them.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// One project's (operators' events have none, so they never pass).
    pub project: Option<String>,
    /// One instance's, backup's or actor's (a flow's target is its instance or backup).
    pub target: Option<String>,
}

impl EventFilter {
    pub fn passes(&self, event: &StoredEvent) -> bool {
        self.project
            .as_ref()
            .is_none_or(|p| event.project_id.as_deref() == Some(p.as_str()))
            && self.target.as_ref().is_none_or(|t| &event.target_id == t)
    }
}

impl StoredEvent {
    /// Events after `after`, oldest first, at most `limit`, that `filter` lets through.
    pub fn after(conn: &mut DbConn, after: i64, filter: &EventFilter, limit: i64) -> Result<Vec<StoredEvent>, DbError> {
        let mut query = events::table.filter(events::id.gt(after)).into_boxed();
        if let Some(project) = &filter.project {
            query = query.filter(events::project_id.eq(project.clone()));
        }
        if let Some(target) = &filter.target {
            query = query.filter(events::target_id.eq(target.clone()));
        }
        Ok(query
            .order(events::id.asc())
            .limit(limit)
            .select(StoredEvent::as_select())
            .load(conn)?)
    }

    /// The newest event's id (0 when there is none).
    pub fn newest_id(conn: &mut DbConn) -> Result<i64, DbError> {
        let newest: Option<i64> = events::table.select(diesel::dsl::max(events::id)).first(conn)?;
        Ok(newest.unwrap_or(0))
    }

    /// Drops all but the newest `kept` events; returns how many went.
    pub fn trim(conn: &mut DbConn, kept: i64) -> Result<usize, DbError> {
        let newest = Self::newest_id(conn)?;
        if newest <= kept {
            return Ok(0);
        }
        Ok(diesel::delete(events::table.filter(events::id.le(newest - kept))).execute(conn)?)
    }
}
