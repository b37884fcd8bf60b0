//! `conductor_lastseen`: the newest `sent` applied per (instance, method), so that an older or
//! equal message is dropped. The check is one conditional write, never read-then-write, so any
//! number of conductors apply messages in order.

use crate::db::schema::conductor_lastseen;
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = conductor_lastseen)]
pub struct LastSeen {
    pub instance_id: String,
    pub method_name: String,
    pub sent: f64,
}

impl LastSeen {
    /// Creates the row at instance create, so that the hot path is a single UPDATE.
    pub fn start(conn: &mut DbConn, instance_id: &str, method: &str) -> Result<(), DbError> {
        diesel::insert_into(conductor_lastseen::table)
            .values(LastSeen {
                instance_id: instance_id.to_string(),
                method_name: method.to_string(),
                sent: 0.0,
            })
            .execute(conn)?;
        Ok(())
    }

    /// True when `sent` is newer than the last applied message (which it then becomes).
    pub fn accept(conn: &mut DbConn, instance_id: &str, method: &str, sent: f64) -> Result<bool, DbError> {
        let updated = diesel::update(
            conductor_lastseen::table
                .filter(conductor_lastseen::instance_id.eq(instance_id))
                .filter(conductor_lastseen::method_name.eq(method))
                .filter(conductor_lastseen::sent.lt(sent)),
        )
        .set(conductor_lastseen::sent.eq(sent))
        .execute(conn)?;
        Ok(updated == 1)
    }

    /// The newest `sent` applied for (instance, method).
    pub fn last_sent(conn: &mut DbConn, instance_id: &str, method: &str) -> Result<Option<f64>, DbError> {
        Ok(conductor_lastseen::table
            .find((instance_id, method))
            .select(conductor_lastseen::sent)
            .first(conn)
            .optional()?)
    }

    pub fn delete_for(conn: &mut DbConn, instance_id: &str) -> Result<(), DbError> {
        diesel::delete(conductor_lastseen::table.filter(conductor_lastseen::instance_id.eq(instance_id)))
            .execute(conn)?;
        Ok(())
    }
}
