//! `instance_faults`: why an instance's last operation failed, shown as `fault` on show.

use crate::db::schema::instance_faults;
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = instance_faults)]
pub struct InstanceFault {
    pub id: String,
    pub instance_id: String,
    pub message: String,
    pub details: String,
    pub created: i64,
    pub deleted: bool,
}

impl InstanceFault {
    pub fn record(conn: &mut DbConn, instance_id: &str, message: &str, details: &str) -> Result<(), DbError> {
        diesel::insert_into(instance_faults::table)
            .values(InstanceFault {
                id: uuid::Uuid::new_v4().to_string(),
                instance_id: instance_id.to_string(),
                message: message.chars().take(255).collect(),
                details: details.to_string(),
                created: now_ms(),
                deleted: false,
            })
            .execute(conn)?;
        Ok(())
    }

    /// The newest fault still in force.
    pub fn latest(conn: &mut DbConn, instance_id: &str) -> Result<Option<InstanceFault>, DbError> {
        Ok(instance_faults::table
            .filter(instance_faults::instance_id.eq(instance_id))
            .filter(instance_faults::deleted.eq(false))
            .order(instance_faults::created.desc())
            .select(InstanceFault::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn soft_delete_all(conn: &mut DbConn, instance_id: &str) -> Result<(), DbError> {
        diesel::update(instance_faults::table.filter(instance_faults::instance_id.eq(instance_id)))
            .set(instance_faults::deleted.eq(true))
            .execute(conn)?;
        Ok(())
    }
}
