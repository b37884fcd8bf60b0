//! Write transactions that never fail with SQLITE_BUSY on a read-then-write upgrade.
//!
//! On SQLite a write transaction starts with `BEGIN IMMEDIATE` (it takes the write lock first and
//! waits on `busy_timeout`); on PostgreSQL it is an ordinary transaction. Either way diesel's
//! transaction manager knows about it, so a connection whose closure panicked is discarded by
//! the pool instead of being reused mid-transaction.

use super::{DbConn, DbError};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

/// Runs `f` in one write transaction: committed if it returns `Ok`, rolled back otherwise.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<DbError>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    match conn {
        DbConn::Pg(_) => conn.transaction(f),
        DbConn::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            let result = f(conn);
            let DbConn::Sqlite(inner) = conn else {
                return Err(DbError::Task("connection changed backend mid-transaction".into()).into());
            };
            match result {
                Ok(value) => {
                    AnsiTransactionManager::commit_transaction(inner)?;
                    Ok(value)
                }
                Err(e) => {
                    AnsiTransactionManager::rollback_transaction(inner)?;
                    Err(e)
                }
            }
        }
    }
}

/// Makes the rest of the transaction the only one holding `key` (PostgreSQL's transaction-level
/// advisory lock; an SQLite write transaction is alone already): work that several processes
/// start at once — seeding shared rows at start — runs one after the other, each seeing what
/// the one before wrote.
pub fn exclusive(conn: &mut DbConn, key: i64) -> Result<(), DbError> {
    if let DbConn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({key})")).execute(c)?;
    }
    Ok(())
}
