//! Hand-written statements that stay prepared, on either backend. diesel (2.3) prepares every
//! `UPDATE` and every `sql_query` again at each execution (they mark themselves unsafe to cache),
//! so the database parses their text each time; on a hot path that parse costs more than the
//! work. A [`Cached`] statement is keyed in diesel's statement cache by its [`StatementText`]
//! type, so its text is parsed once per connection and then only bound and stepped.
//!
//! Run one on the backend's own connection (see [`crate::db::on_backend`]): through `DbConn`,
//! diesel's multi-connection renders the text again at each pass.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Double, HasSqlType, Integer, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

/// One statement's text, with a `?` for each bound value and no other `?` (not even in a
/// literal); a type per statement (the cache key). PostgreSQL gets `$1`, `$2`… in their place.
///
/// Each `?` must always get the same [`Bind`] variant: the cache key is the type alone, and
/// PostgreSQL fixes the parameters' types when it first prepares the statement.
pub trait StatementText: 'static {
    const SQL: &'static str;
}

/// A value bound to one `?`.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Text(&'a str),
    /// A text or NULL.
    OptText(Option<&'a str>),
    Double(f64),
    BigInt(i64),
    Integer(i32),
}

/// `S`'s text with `binds`, in order; run it with diesel's `execute`/`load` on a
/// `SqliteConnection` or a `PgConnection`.
pub struct Cached<'a, S> {
    binds: &'a [Bind<'a>],
    text: PhantomData<S>,
}

impl<'a, S: StatementText> Cached<'a, S> {
    pub fn new(binds: &'a [Bind<'a>]) -> Self {
        Cached {
            binds,
            text: PhantomData,
        }
    }
}

impl<S: StatementText> QueryId for Cached<'_, S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: StatementText, DB> QueryFragment<DB> for Cached<'_, S>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Double> + HasSqlType<BigInt> + HasSqlType<Integer>,
    str: ToSql<Text, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    f64: ToSql<Double, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // One pass over the text: each `?` takes the next value (the backend's query builder
        // writes its own placeholder); too few or too many is an error.
        let mismatch = || {
            diesel::result::Error::QueryBuilderError(
                format!("{} values bound to {:?}", self.binds.len(), S::SQL).into(),
            )
        };
        let mut parts = S::SQL.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        let mut binds = self.binds.iter();
        for part in parts {
            match binds.next().ok_or_else(mismatch)? {
                Bind::Text(text) => out.push_bind_param::<Text, str>(text)?,
                Bind::OptText(text) => out.push_bind_param::<Nullable<Text>, Option<&str>>(text)?,
                Bind::Double(value) => out.push_bind_param::<Double, f64>(value)?,
                Bind::BigInt(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Bind::Integer(value) => out.push_bind_param::<Integer, i32>(value)?,
            }
            out.push_sql(part);
        }
        if binds.next().is_some() {
            return Err(mismatch());
        }
        Ok(())
    }
}

// On the backends' own connections only: through `DbConn` the text would be rendered again at
// each pass (see `on_backend!`).
impl<S> RunQueryDsl<diesel::SqliteConnection> for Cached<'_, S> {}
impl<S> RunQueryDsl<diesel::PgConnection> for Cached<'_, S> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel::pg::Pg;
    use diesel::sqlite::Sqlite;
    use diesel::{Connection, SqliteConnection};
    use std::sync::{Arc, Mutex};

    struct Bump;
    impl StatementText for Bump {
        const SQL: &'static str = "UPDATE counters SET n = n + ? WHERE name = ? AND n < ?";
    }

    /// Counts the statements SQLite was asked to prepare.
    #[derive(Default, Clone)]
    struct Prepares(Arc<Mutex<usize>>);
    impl Instrumentation for Prepares {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                *self.0.lock().expect("not poisoned") += 1;
            }
        }
    }

    #[test]
    fn a_cached_statement_is_prepared_once_and_binds_in_order() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        diesel::sql_query("CREATE TABLE counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            .execute(&mut conn)
            .expect("table");
        diesel::sql_query("INSERT INTO counters VALUES ('a', 0), ('b', 0)")
            .execute(&mut conn)
            .expect("rows");
        let prepares = Prepares::default();
        conn.set_instrumentation(prepares.clone());
        let mut changed = 0;
        for _ in 0..5 {
            let bump = Cached::<Bump>::new(&[Bind::BigInt(2), Bind::Text("a"), Bind::BigInt(7)]);
            changed += bump.execute(&mut conn).expect("update");
        }
        // 0 → 2 → 4 → 6 → 8, then n < 7 no longer holds.
        assert_eq!(changed, 4);
        assert_eq!(
            *prepares.0.lock().expect("not poisoned"),
            1,
            "prepared once, then reused"
        );
        let wrong = Cached::<Bump>::new(&[Bind::BigInt(2)]).execute(&mut conn);
        assert!(
            wrong.is_err(),
            "a bind count that does not match is an error, not a panic"
        );
    }

    #[test]
    fn each_backend_gets_its_own_placeholders() {
        let binds = [Bind::BigInt(2), Bind::OptText(None), Bind::Integer(7)];
        let bump = Cached::<Bump>::new(&binds);
        let pg = diesel::debug_query::<Pg, _>(&bump).to_string();
        assert!(
            pg.starts_with("UPDATE counters SET n = n + $1 WHERE name = $2 AND n < $3 --"),
            "{pg}"
        );
        let sqlite = diesel::debug_query::<Sqlite, _>(&bump).to_string();
        assert!(sqlite.starts_with(&format!("{} --", Bump::SQL)), "{sqlite}");
    }
}
