//! `cache_generations`: one counter per kind of row the API keeps in memory, moved by
//! triggers on every change to those rows (see the migration `cache_generations`).

use crate::db::schema::cache_generations;
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

/// The generations as one read saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generations {
    /// Users, projects, role assignments and revoked tokens.
    pub identity: i64,
    /// Datastores, their versions, and flavors.
    pub catalog: i64,
}

impl Generations {
    /// Both counters, in one statement; an error when either row is missing.
    pub fn read(conn: &mut DbConn) -> Result<Generations, DbError> {
        let rows: Vec<(String, i64)> = cache_generations::table
            .select((cache_generations::kind, cache_generations::generation))
            .load(conn)?;
        let find = |kind: &str| rows.iter().find(|(k, _)| k == kind).map(|(_, g)| *g);
        match (find("identity"), find("catalog")) {
            (Some(identity), Some(catalog)) => Ok(Generations { identity, catalog }),
            // Without its row a kind's changes move nothing: memory must not answer.
            _ => Err(DbError::Invalid(
                "cache_generations lacks its identity or catalog row".into(),
            )),
        }
    }
}
