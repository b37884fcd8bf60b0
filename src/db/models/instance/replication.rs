//! The replication topology as rows: a replica names its source in `slave_of_id` (Trove's
//! column); the group's replication password is kept sealed on each member.

use super::Instance;
use crate::db::schema::instances;
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;
use std::collections::HashMap;

impl Instance {
    /// The live replicas of each of `sources` (ids, oldest first).
    pub fn replicas_of(conn: &mut DbConn, sources: &[String]) -> Result<HashMap<String, Vec<String>>, DbError> {
        let rows: Vec<(Option<String>, String)> = instances::table
            .filter(instances::slave_of_id.eq_any(sources))
            .filter(instances::deleted.eq(false))
            .order((instances::created.asc(), instances::id.asc()))
            .select((instances::slave_of_id, instances::id))
            .load(conn)?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (source, id) in rows {
            if let Some(source) = source {
                out.entry(source).or_default().push(id);
            }
        }
        Ok(out)
    }

    /// Recorded as a replica with no change of its group under way (a flow that is changing
    /// it decides what its server does).
    pub fn is_settled_replica(&self) -> bool {
        self.slave_of_id.is_some() && self.task().is_some_and(|t| t.is_idle() || t.is_error())
    }

    /// Every live replica with its source (at most `limit`, oldest first): what `/metrics`
    /// reports the lag of.
    pub fn all_replicas(conn: &mut DbConn, limit: i64) -> Result<Vec<(String, String)>, DbError> {
        let rows: Vec<(String, Option<String>)> = instances::table
            .filter(instances::slave_of_id.is_not_null())
            .filter(instances::deleted.eq(false))
            .order((instances::created.asc(), instances::id.asc()))
            .limit(limit)
            .select((instances::id, instances::slave_of_id))
            .load(conn)?;
        Ok(rows.into_iter().filter_map(|(id, s)| Some((id, s?))).collect())
    }

    /// The live replicas of `source`, whole rows.
    pub fn replica_rows(conn: &mut DbConn, source: &str) -> Result<Vec<Instance>, DbError> {
        Ok(instances::table
            .filter(instances::slave_of_id.eq(source))
            .filter(instances::deleted.eq(false))
            .order((instances::created.asc(), instances::id.asc()))
            .select(Instance::as_select())
            .load(conn)?)
    }

    /// Makes `id` a replica of `source` (`None`: a source or standalone).
    pub fn set_source(conn: &mut DbConn, id: &str, source: Option<&str>) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set((instances::slave_of_id.eq(source), instances::updated.eq(now_ms())))
            .execute(conn)?;
        Ok(())
    }

    /// Keeps the group's sealed replication password on `id`.
    pub fn set_replication_secret(conn: &mut DbConn, id: &str, sealed: &str) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set(instances::replication_secret.eq(Some(sealed)))
            .execute(conn)?;
        Ok(())
    }
}
