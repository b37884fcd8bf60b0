//! `conductor_lastseen`: the newest `sent` applied per (instance, method), so that an older or
//! equal message is dropped. The check is one conditional write, never read-then-write, so any
//! number of conductors apply messages in order.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::conductor_lastseen;
use crate::db::{on_backend, DbConn, DbError};
use diesel::prelude::*;
use diesel::sql_types::Text;

/// An instance id a batch statement returns.
#[derive(QueryableByName)]
pub struct InstanceIdRow {
    #[diesel(sql_type = Text)]
    pub instance_id: String,
}

/// The stale check of one message on SQLite: `sent` becomes the last applied one if newer.
struct AcceptNewer;
impl StatementText for AcceptNewer {
    const SQL: &'static str = "UPDATE conductor_lastseen SET sent = ? \
                               WHERE instance_id = ? AND method_name = ? AND sent < ?";
}

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
        let row = LastSeen {
            instance_id: instance_id.to_string(),
            method_name: method.to_string(),
            sent: 0.0,
        };
        on_backend!(conn, |c| diesel::insert_into(conductor_lastseen::table)
            .values(&row)
            .execute(c))?;
        Ok(())
    }

    /// The stale check for many instances (each instance at most once): every `sent` newer than
    /// the instance's last applied one becomes it; returns those instances. On SQLite, one
    /// cached conditional UPDATE per instance (in process, a step costs less than encoding the
    /// batch as JSON and parsing it back); on PostgreSQL, one round trip for the batch.
    pub fn accept_many(conn: &mut DbConn, method: &str, sent: &[(&str, f64)]) -> Result<Vec<String>, DbError> {
        if sent.is_empty() {
            return Ok(Vec::new());
        }
        match conn {
            DbConn::Sqlite(c) => {
                let mut fresh = Vec::with_capacity(sent.len());
                for &(id, at) in sent {
                    let newer = Cached::<AcceptNewer>::new(&[
                        Bind::Double(at),
                        Bind::Text(id),
                        Bind::Text(method),
                        Bind::Double(at),
                    ])
                    .execute(c)?;
                    if newer == 1 {
                        fresh.push(id.to_string());
                    }
                }
                Ok(fresh)
            }
            DbConn::Pg(c) => Self::accept_many_pg(c, method, sent),
        }
    }

    fn accept_many_pg(c: &mut PgConnection, method: &str, sent: &[(&str, f64)]) -> Result<Vec<String>, DbError> {
        let rows: Vec<serde_json::Value> = sent
            .iter()
            .map(|(id, s)| serde_json::json!({"id": id, "sent": s}))
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        // Row locks in one order (by instance), so concurrent conductors cannot deadlock: an
        // UPDATE … FROM locks in its plan's order.
        diesel::sql_query(
            "SELECT conductor_lastseen.instance_id FROM conductor_lastseen \
             WHERE conductor_lastseen.method_name = $2 AND conductor_lastseen.instance_id IN \
               (SELECT j.id FROM json_to_recordset($1::json) AS j(id text, sent float8)) \
             ORDER BY conductor_lastseen.instance_id FOR UPDATE",
        )
        .bind::<Text, _>(&rows)
        .bind::<Text, _>(method)
        .load::<InstanceIdRow>(c)?;
        let updated: Vec<InstanceIdRow> = diesel::sql_query(
            "UPDATE conductor_lastseen SET sent = j.sent \
             FROM json_to_recordset($1::json) AS j(id text, sent float8) \
             WHERE conductor_lastseen.instance_id = j.id AND conductor_lastseen.method_name = $2 \
               AND conductor_lastseen.sent < j.sent \
             RETURNING conductor_lastseen.instance_id",
        )
        .bind::<Text, _>(rows)
        .bind::<Text, _>(method)
        .load(c)?;
        Ok(updated.into_iter().map(|r| r.instance_id).collect())
    }

    /// The newest `sent` applied for (instance, method).
    pub fn last_sent(conn: &mut DbConn, instance_id: &str, method: &str) -> Result<Option<f64>, DbError> {
        Ok(conductor_lastseen::table
            .find((instance_id, method))
            .select(conductor_lastseen::sent)
            .first(conn)
            .optional()?)
    }

    /// Every instance's newest applied `sent` for `method` (for the conductor benchmark).
    pub fn all_for_method(conn: &mut DbConn, method: &str) -> Result<Vec<(String, f64)>, DbError> {
        Ok(conductor_lastseen::table
            .filter(conductor_lastseen::method_name.eq(method))
            .select((conductor_lastseen::instance_id, conductor_lastseen::sent))
            .load(conn)?)
    }

    pub fn delete_for(conn: &mut DbConn, instance_id: &str) -> Result<(), DbError> {
        diesel::delete(conductor_lastseen::table.filter(conductor_lastseen::instance_id.eq(instance_id)))
            .execute(conn)?;
        Ok(())
    }
}
