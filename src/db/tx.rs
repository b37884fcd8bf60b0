//! Write transactions that never fail with SQLITE_BUSY on a read-then-write upgrade.
//!
//! On SQLite a write transaction starts with `BEGIN IMMEDIATE` (it takes the write lock first and
//! waits on `busy_timeout`); on PostgreSQL it is an ordinary transaction. SQLite has one writer
//! at a time: work that [`Db::run`](super::Db::run) runs writes on the file's writing connection
//! (see [`super::writer`]: one per file in this process, its writes sharing commits), and a write
//! inside such a write is a savepoint of it. Elsewhere (the command-line tools) a write runs on
//! the connection it is given, after this process's other such writers ([`SQLITE_WRITER`]);
//! other processes sharing the file still meet on `busy_timeout`. Either way diesel's
//! transaction manager knows about it, so a connection whose closure panicked is discarded
//! instead of being reused mid-transaction.

use super::writer::Writer;
use super::{DbConn, DbError};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

/// Taken around every write transaction (and [`write_alone`]) on SQLite in this process that
/// runs on the connection it is given; re-entrant, so a write inside a write transaction runs on.
static SQLITE_WRITER: parking_lot::ReentrantMutex<()> = parking_lot::ReentrantMutex::new(());

/// Runs `f` in one write transaction: committed if it returns `Ok`, rolled back otherwise.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<DbError>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    if matches!(conn, DbConn::Sqlite(_)) {
        // Inside a write on the writing connection: a savepoint of it.
        if Writer::writing() {
            return conn.transaction(f);
        }
        if let Some(writer) = Writer::bound() {
            return writer.run(f);
        }
    }
    match conn {
        DbConn::Pg(_) => conn.transaction(f),
        DbConn::Sqlite(inner) => {
            let _writer = SQLITE_WRITER.lock();
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

/// Runs `f`, one statement that writes on its own (its own transaction), as a write transaction
/// would: after this process's other writers on SQLite.
pub fn write_alone<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<DbError>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    if matches!(conn, DbConn::Sqlite(_)) && !Writer::writing() {
        if let Some(writer) = Writer::bound() {
            return writer.run(f);
        }
    }
    let _writer = matches!(conn, DbConn::Sqlite(_)).then(|| SQLITE_WRITER.lock());
    f(conn)
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
