//! `guest_keys`: each instance's guest key, sealed under the master key. Made once when the
//! instance's server is provisioned (concurrent provisioners agree on the first one stored).

use crate::db::schema::guest_keys;
use crate::db::{now_ms, on_backend, write_alone, DbConn, DbError};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = guest_keys)]
pub struct GuestKeyRow {
    pub instance_id: String,
    pub sealed_key: String,
    pub created: i64,
}

impl GuestKeyRow {
    /// The sealed key of an instance, if it has one.
    pub fn find(conn: &mut DbConn, instance_id: &str) -> Result<Option<String>, DbError> {
        Ok(guest_keys::table
            .find(instance_id)
            .select(guest_keys::sealed_key)
            .first(conn)
            .optional()?)
    }

    /// Stores `sealed` as the instance's key unless it has one; returns the key it has (read
    /// only when another was there first).
    pub fn ensure(conn: &mut DbConn, instance_id: &str, sealed: &str) -> Result<String, DbError> {
        let row = GuestKeyRow {
            instance_id: instance_id.to_string(),
            sealed_key: sealed.to_string(),
            created: now_ms(),
        };
        // ON CONFLICT DO NOTHING is offered per backend, not through the multi-backend connection.
        let stored = write_alone(conn, |conn| {
            on_backend!(conn, |c| diesel::insert_into(guest_keys::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(c))
            .map_err(DbError::from)
        })?;
        if stored == 1 {
            return Ok(row.sealed_key);
        }
        Ok(guest_keys::table
            .find(instance_id)
            .select(guest_keys::sealed_key)
            .first(conn)?)
    }

    pub fn delete_for(conn: &mut DbConn, instance_id: &str) -> Result<(), DbError> {
        diesel::delete(guest_keys::table.find(instance_id)).execute(conn)?;
        Ok(())
    }
}
