//! The writing connection's group commit: what a group keeps when one of its writes fails or
//! panics. Groups are formed on purpose: a write holds the connection until the next writer
//! is seen waiting, so the two share a transaction.

use super::*;
use crate::db::schema::quotas;
use diesel::prelude::*;
use std::time::{Duration, Instant};

struct Scratch {
    _dir: tempfile::TempDir,
    url: DbUrl,
    writer: Arc<Writer>,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("writer.db").display().to_string();
    let url = DbUrl::parse(&format!("sqlite://{path}")).expect("an SQLite URL");
    crate::db::migrate(&url).expect("migrations");
    let writer = Writer::of(&url, false).expect("a writer for an SQLite file");
    Scratch { _dir: dir, url, writer }
}

fn insert(conn: &mut DbConn, resource: &str) -> Result<(), DbError> {
    diesel::insert_into(quotas::table)
        .values((
            quotas::tenant_id.eq("t"),
            quotas::resource.eq(resource),
            quotas::hard_limit.eq(1),
        ))
        .execute(conn)?;
    Ok(())
}

fn stored(url: &DbUrl) -> Vec<String> {
    let mut conn = url.establish(false).expect("a connection");
    quotas::table
        .select(quotas::resource)
        .order(quotas::resource)
        .load(&mut conn)
        .expect("the rows")
}

/// Holds the writing connection until another writer waits for it.
fn until_someone_waits(writer: &Writer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.waiting.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "no second writer came");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `first` (which returns once `second` waits) and `second` on two threads.
fn grouped<A, B>(
    writer: &Arc<Writer>,
    first: A,
    second: B,
) -> (Result<(), DbError>, std::thread::Result<Result<(), DbError>>)
where
    A: FnOnce(&mut DbConn) -> Result<(), DbError> + Send + 'static,
    B: FnOnce(&mut DbConn) -> Result<(), DbError> + Send + 'static,
{
    let w = Arc::clone(writer);
    let a = std::thread::spawn(move || {
        w.run(|c| {
            first(c)?;
            until_someone_waits(&w);
            Ok(())
        })
    });
    // Starts once `first` holds the connection (its thread is inside `run`).
    std::thread::sleep(Duration::from_millis(50));
    let w = Arc::clone(writer);
    let b = std::thread::spawn(move || w.run(second));
    let first = a.join().expect("the first write does not panic");
    (first, b.join())
}

#[test]
fn a_group_shares_one_commit_and_a_failed_write_undoes_only_itself() {
    let s = scratch();
    let (_, commits_before) = writes_and_commits();
    let (first, second) = grouped(
        &s.writer,
        |c| insert(c, "a"),
        |c| {
            insert(c, "b")?;
            insert(c, "a") // a duplicate key: this write fails
        },
    );
    first.expect("the first write is committed");
    assert!(second.expect("no panic").is_err(), "the duplicate fails");
    assert_eq!(
        stored(&s.url),
        vec!["a"],
        "the first write stays, all of the second is undone"
    );
    let (_, commits) = writes_and_commits();
    // Other tests' writers count too: at least one commit, and the group took one.
    assert!(commits > commits_before, "the group committed");
}

#[test]
fn a_write_that_panics_fails_its_group_and_the_next_write_works() {
    let s = scratch();
    let (first, second) = grouped(
        &s.writer,
        |c| insert(c, "a"),
        |c| {
            insert(c, "b")?;
            panic!("a write panics mid-way")
        },
    );
    assert!(second.is_err(), "the panic reaches its caller");
    let err = first.expect_err("the first write is not reported committed");
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert_eq!(stored(&s.url), Vec::<String>::new(), "the whole group is rolled back");
    s.writer
        .run(|c| insert(c, "c"))
        .expect("a new connection takes the next write");
    assert_eq!(stored(&s.url), vec!["c"]);
}

#[test]
fn a_write_inside_a_write_is_a_savepoint_of_it() {
    let s = scratch();
    let result: Result<(), DbError> = s.writer.run(|c| {
        insert(c, "a")?;
        let inner: Result<(), DbError> = crate::db::write_tx(c, |c| {
            insert(c, "b")?;
            insert(c, "a")
        });
        assert!(inner.is_err(), "the inner write fails");
        crate::db::write_alone(c, |c| insert(c, "c"))
    });
    result.expect("the outer write");
    assert_eq!(stored(&s.url), vec!["a", "c"], "only the failed inner write is undone");
}

#[test]
fn many_writers_all_commit() {
    let s = scratch();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = Arc::clone(&s.writer);
            std::thread::spawn(move || {
                for i in 0..25 {
                    w.run(|c| insert(c, &format!("{t}-{i:02}"))).expect("a write");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a writer thread");
    }
    assert_eq!(stored(&s.url).len(), 200);
}
