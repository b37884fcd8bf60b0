//! This process's one writing connection to an SQLite file, and its group commit.
//!
//! SQLite has one writer at a time, so this process's writes to a file take turns on one
//! connection of their own ([`Writer::run`]) instead of each writing on the pooled connection it
//! read on. That connection's page cache stays warm (another connection's commit would make it
//! read the changed pages again), and its writes share commits: a write that finds more
//! writers queued behind it leaves its transaction open for them, each of the later ones in a
//! savepoint of its own (its failure undoes only its own work), and the last of the group, or
//! the [`MAX_GROUP`]th, commits for all. Every writer returns only once its work is committed
//! (or with the error that kept it from being), so what a caller answers is durable as before.
//!
//! A write that panics, or leaves a transaction of its own open, takes the connection with it:
//! the connection is closed (SQLite rolls the whole group back), the others of its group get an
//! error, and the next write opens a new connection.

use super::{DbConn, DbError, DbUrl};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::SqliteConnection;
use parking_lot::{Condvar, Mutex};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// Writes that share one commit at most.
const MAX_GROUP: usize = 64;

/// Writes run on writing connections in this process, and the commits they took.
static WRITES: AtomicU64 = AtomicU64::new(0);
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Writes run and commits made on this process's writing connections so far (SQLite): how
/// much the group commit saves, for `/metrics` and `coffer bench create`.
pub fn writes_and_commits() -> (u64, u64) {
    (WRITES.load(Ordering::Relaxed), COMMITS.load(Ordering::Relaxed))
}

thread_local! {
    /// True on a thread while its write runs on the writing connection.
    static WRITING: Cell<bool> = const { Cell::new(false) };
    /// The writer of the database whose pooled connection this thread works on, if SQLite.
    static BOUND: RefCell<Option<Arc<Writer>>> = const { RefCell::new(None) };
}

/// The writing connection of one SQLite file.
pub struct Writer {
    url: DbUrl,
    metered: bool,
    /// Writers waiting for the connection: a write that sees some leaves its group open.
    waiting: AtomicUsize,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    conn: Option<DbConn>,
    /// The group whose transaction is open, if one is.
    open: Option<Group>,
}

#[derive(Default)]
struct Group {
    writes: usize,
    ended: Arc<GroupEnd>,
}

/// How a group's transaction ended, for the writers waiting on it.
#[derive(Default)]
struct GroupEnd {
    outcome: Mutex<Option<Result<(), String>>>,
    told: Condvar,
}

impl GroupEnd {
    fn tell(&self, outcome: Result<(), String>) {
        *self.outcome.lock() = Some(outcome);
        self.told.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(ended) = outcome.as_ref() {
                return ended.clone();
            }
            self.told.wait(&mut outcome);
        }
    }
}

/// Sets [`WRITING`] while a write runs, and clears it however the write ends.
struct WritingFlag;

impl WritingFlag {
    fn raise() -> WritingFlag {
        WRITING.with(|w| w.set(true));
        WritingFlag
    }
}

impl Drop for WritingFlag {
    fn drop(&mut self) {
        WRITING.with(|w| w.set(false));
    }
}

impl Writer {
    /// The writer of the file `url` names, shared by every pool of this process on that file.
    pub fn of(url: &DbUrl, metered: bool) -> Option<Arc<Writer>> {
        static WRITERS: Mutex<Option<HashMap<String, Weak<Writer>>>> = Mutex::new(None);
        let DbUrl::Sqlite(path) = url else { return None };
        let mut writers = WRITERS.lock();
        let writers = writers.get_or_insert_with(HashMap::new);
        writers.retain(|_, w| w.strong_count() > 0);
        if let Some(writer) = writers.get(path).and_then(Weak::upgrade) {
            return Some(writer);
        }
        let writer = Arc::new(Writer {
            url: url.clone(),
            metered,
            waiting: AtomicUsize::new(0),
            slot: Mutex::new(Slot::default()),
        });
        writers.insert(path.clone(), Arc::downgrade(&writer));
        Some(writer)
    }

    /// Runs `f` with `writer` bound to this thread: the write transactions `f` makes go to it.
    pub fn bound_during<R>(writer: Option<&Arc<Writer>>, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Arc<Writer>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let before = self.0.take();
                BOUND.with(|b| *b.borrow_mut() = before);
            }
        }
        let _restore = Restore(BOUND.with(|b| b.replace(writer.cloned())));
        f()
    }

    /// The writer bound to this thread, if any.
    pub fn bound() -> Option<Arc<Writer>> {
        BOUND.with(|b| b.borrow().clone())
    }

    /// True while this thread's write runs on a writing connection (a write inside it runs on).
    pub fn writing() -> bool {
        WRITING.with(Cell::get)
    }

    /// Runs `f` in a write transaction on the writing connection, sharing its commit with the
    /// writes queued behind it; returns once that commit is done.
    pub fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<DbError>,
        F: FnOnce(&mut DbConn) -> Result<T, E>,
    {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let mut slot = self.slot.lock();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        // Out of the slot while the write runs: put back only if it is still fit for use.
        let mut conn = match slot.conn.take() {
            Some(conn) => conn,
            None => self.url.establish(self.metered)?,
        };
        let group = slot.open.take();
        let joined = group.is_some();
        let DbConn::Sqlite(inner) = &mut conn else {
            return Err(fail_group(group, "the writing connection is not SQLite").into());
        };
        let began = match joined {
            true => AnsiTransactionManager::begin_transaction(inner),
            false => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE"),
        };
        if let Err(e) = began {
            // Not begun: the group (if any) is committed as it stands, for those waiting on it.
            if let Some(group) = group {
                let committed = AnsiTransactionManager::commit_transaction(inner).map_err(|e| e.to_string());
                group.ended.tell(committed);
            }
            return Err(e.into()); // the connection goes: its state is not known
        }
        let ran = {
            let _flag = WritingFlag::raise();
            catch_unwind(AssertUnwindSafe(|| f(&mut conn)))
        };
        let DbConn::Sqlite(inner) = &mut conn else {
            return Err(fail_group(group, "the writing connection changed backend").into());
        };
        // The write must leave the transaction as deep as it found it; else the connection is
        // dropped, which rolls back the whole group.
        let result = match ran {
            Ok(result) if transaction_depth(inner) == Some(1 + u32::from(joined)) => result,
            unusable => {
                let left_open = fail_group(group, "a write left a transaction open");
                return match unusable {
                    Err(panic) => resume_unwind(panic),
                    Ok(_) => Err(left_open.into()),
                };
            }
        };
        // Its own part: released into the group, or undone.
        let own_part = match (joined, result.is_ok()) {
            (true, true) => AnsiTransactionManager::commit_transaction(inner),
            (_, false) => AnsiTransactionManager::rollback_transaction(inner),
            (false, true) => Ok(()),
        };
        if let Err(e) = own_part {
            fail_group(group, &e.to_string());
            return Err(e.into());
        }
        let Some(mut group) = group.or_else(|| result.is_ok().then(Group::default)) else {
            slot.conn = Some(conn);
            return result; // it was alone, and undone
        };
        group.writes += 1;
        WRITES.fetch_add(1, Ordering::Relaxed);
        let ended = Arc::clone(&group.ended);
        if self.waiting.load(Ordering::Acquire) > 0 && group.writes < MAX_GROUP {
            slot.conn = Some(conn);
            slot.open = Some(group);
            drop(slot);
            return commit_outcome(result, ended.wait());
        }
        let committed = AnsiTransactionManager::commit_transaction(inner).map_err(|e| e.to_string());
        COMMITS.fetch_add(1, Ordering::Relaxed);
        if committed.is_ok() {
            slot.conn = Some(conn);
        }
        drop(slot);
        ended.tell(committed.clone());
        commit_outcome(result, committed)
    }
}

/// Tells the writes of `group` (if any) that it was rolled back, for `why` (the connection is
/// being dropped); the error for the write that ends it.
fn fail_group(group: Option<Group>, why: &str) -> DbError {
    if let Some(group) = group {
        group
            .ended
            .tell(Err(format!("rolled back: a write of its group failed: {why}")));
    }
    DbError::Task(why.to_string())
}

fn transaction_depth(conn: &mut SqliteConnection) -> Option<u32> {
    let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
    match status.transaction_depth() {
        Ok(depth) => Some(depth.map_or(0, |d| d.get())),
        Err(_) => None,
    }
}

/// A write's result once its group ended: its own error stands; its success only if committed.
fn commit_outcome<T, E>(result: Result<T, E>, committed: Result<(), String>) -> Result<T, E>
where
    E: From<DbError>,
{
    match (result, committed) {
        (Ok(_), Err(e)) => Err(DbError::Task(format!("commit failed: {e}")).into()),
        (result, _) => result,
    }
}

#[cfg(test)]
mod tests;
