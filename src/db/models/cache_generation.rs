//! `cache_generations`: one counter per kind of row the API keeps in memory, moved by
//! triggers on every change to those rows (see the migration `cache_generations`).

use crate::db::schema::cache_generations;
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

/// The generations as one read saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generations {
    /// Users, projects, role assignments and revoked tokens.
    pub identity: i64,
    /// Datastores, their versions, and flavors.
    pub catalog: i64,
}

impl Generations {
    /// Both counters, in one statement.
    pub fn read(conn: &mut DbConn) -> Result<Generations, DbError> {
        let rows: Vec<(String, i64)> = cache_generations::table
            .select((cache_generations::kind, cache_generations::generation))
            .load(conn)?;
        let mut seen = Generations::default();
        for (kind, generation) in rows {
            match kind.as_str() {
                "identity" => seen.identity = generation,
                "catalog" => seen.catalog = generation,
                _ => {}
            }
        }
        Ok(seen)
    }
}
