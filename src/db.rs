//! The database: one connection type over SQLite (embedded default) and PostgreSQL (many hosts),
//! a pool of them, migrations per backend, and the only door to diesel from async code.
//!
//! diesel is synchronous: [`Db::run`] moves the work to tokio's blocking pool, so no async
//! thread ever waits on the database. Backend-specific SQL lives only in this module.

mod cached;
pub mod models;
pub mod schema;
mod tx;
mod writer;

pub use tx::{exclusive, write_alone, write_tx};
pub use writer::writes_and_commits;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::Arc;
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection, whichever backend the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// Evaluates `$body` with `$c` bound to the backend's own connection (`SqliteConnection` or
/// `PgConnection`), for statements on hot paths. Through [`DbConn`], diesel's `MultiConnection`
/// renders a statement's whole SQL text at each of its passes (three per execution, cached or
/// not); on the backend's own connection a statement of fixed type is rendered once per
/// connection and found again by its type. `$body` must type-check on both connections.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A database failure, as seen by the rest of coffer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no database connection free: {0}")]
    PoolExhausted(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database task failed: {0}")]
    Task(String),
    /// Stored rows contradict each other (a broken backup chain).
    #[error("{0}")]
    Invalid(String),
}

impl DbError {
    /// No connection came free within `waited`.
    fn none_free(waited: Duration) -> DbError {
        DbError::PoolExhausted(format!("none came free within {} ms", waited.as_millis()))
    }
}

/// Which backend a `[database] url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<DbUrl, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(DbUrl::Sqlite(path.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_string()))
        } else {
            Err(DbError::Connect(format!(
                "[database] url must start with sqlite:// or postgres://, got {url:?}"
            )))
        }
    }

    fn establish(&self, metered: bool) -> Result<DbConn, DbError> {
        let mut conn = self.establish_unmetered()?;
        if metered {
            conn.set_instrumentation(count_statements);
        }
        Ok(conn)
    }

    fn establish_unmetered(&self) -> Result<DbConn, DbError> {
        match self {
            DbUrl::Sqlite(path) => {
                if let Some(dir) = std::path::Path::new(path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    crate::files::create_dirs(dir, 0o700)
                        .map_err(|e| DbError::Connect(format!("{}: {e}", dir.display())))?;
                }
                let mut conn = SqliteConnection::establish(path).map_err(|e| DbError::Connect(e.to_string()))?;
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 15000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )?;
                Ok(DbConn::Sqlite(conn))
            }
            DbUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(|e| DbError::Connect(e.to_string())),
        }
    }
}

/// r2d2 manager that dispatches on the URL's scheme (never "try Postgres, fall back to a file").
struct Manager {
    url: DbUrl,
    /// Its statements count in [`statements_sent`].
    metered: bool,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.url.establish(self.metered)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::connection::TransactionManager;
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// A pool of connections; cheap to clone. A node has two: one for API requests and one for
/// its own work (task manager, conductor, schedulers), so no request load can starve the latter.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    url: DbUrl,
    /// How long a caller waits for a connection, counted from its call, before it gets
    /// `PoolExhausted` (503 in the API).
    acquire_timeout: Duration,
    /// One permit per connection, taken (asynchronously) before the work goes to a blocking
    /// thread: callers beyond the pool's size wait here, not each on a thread of their own.
    permits: Arc<tokio::sync::Semaphore>,
    /// SQLite: this process's writing connection to the file (see [`writer`]).
    writer: Option<Arc<writer::Writer>>,
    pub backend: &'static str,
}

impl Db {
    /// Runs the backend's migrations on a fresh connection, then builds the pool.
    pub fn connect(url: &str, pool_size: u32, acquire_timeout: Duration) -> Result<Db, DbError> {
        let url = DbUrl::parse(url)?;
        migrate(&url)?;
        Self::pool_of(url, pool_size, acquire_timeout, true)
    }

    fn pool_of(url: DbUrl, pool_size: u32, acquire_timeout: Duration, metered: bool) -> Result<Db, DbError> {
        let backend = match url {
            DbUrl::Sqlite(_) => "sqlite",
            DbUrl::Postgres(_) => "postgres",
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            // A PostgreSQL connection can die with its server; an SQLite one cannot, so it is not
            // asked `SELECT 1` at every checkout.
            .test_on_check_out(matches!(url, DbUrl::Postgres(_)))
            .connection_timeout(acquire_timeout)
            .build(Manager {
                url: url.clone(),
                metered,
            })
            .map_err(|e| DbError::Connect(e.to_string()))?;
        Ok(Db {
            pool,
            writer: writer::Writer::of(&url, metered),
            url,
            acquire_timeout,
            permits: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize)),
            backend,
        })
    }

    /// A second, separate pool of `pool_size` connections to the same database.
    pub fn another_pool(&self, pool_size: u32) -> Result<Db, DbError> {
        Self::pool_of(self.url.clone(), pool_size, self.acquire_timeout, true)
    }

    /// [`Db::another_pool`] whose statements are not counted in [`statements_sent`] (coffer's
    /// own bookkeeping, such as the API's cache poller).
    pub fn unmetered_pool(&self, pool_size: u32) -> Result<Db, DbError> {
        Self::pool_of(self.url.clone(), pool_size, self.acquire_timeout, false)
    }

    /// Runs `f` with a pooled connection on the blocking pool (see [`Db::try_run`]); its
    /// errors are the database's own.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        self.try_run(f).await
    }

    /// Runs `f` with a pooled connection on the blocking pool, `f`'s error being the caller's
    /// own (an API fault, a flow error) so that a refusal decided inside a transaction comes
    /// out as itself, not nested in a database result. The wait for a connection is bounded
    /// by the acquire timeout counted from this call, however long the blocking pool took to
    /// start the work.
    pub async fn try_run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        let deadline = std::time::Instant::now() + self.acquire_timeout;
        let timeout = self.acquire_timeout;
        // Waiting for a connection costs no thread: a burst of callers (a create flood) waits
        // here in order, and the blocking pool grows only to the pool's size.
        let permit = Arc::clone(&self.permits).acquire_owned();
        let permit = match tokio::time::timeout_at(deadline.into(), permit).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(E::from(DbError::none_free(timeout))),
        };
        // The request this work belongs to goes along (a flow recorded here keeps its id).
        let request = crate::telemetry::request::current();
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::telemetry::request::on_this_thread(request, || {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let conn = match left.is_zero() {
                    true => pool.try_get(),
                    false => pool.get_timeout(left).ok(),
                };
                let mut conn = conn.ok_or_else(|| E::from(DbError::none_free(timeout)))?;
                writer::Writer::bound_during(writer.as_ref(), || f(&mut conn))
            })
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }
}

impl Db {
    /// A connection for code that is not on an async thread (the command-line tools).
    pub fn get_connection(
        &self,
    ) -> Result<r2d2::PooledConnection<impl ManageConnection<Connection = DbConn>>, DbError> {
        self.pool.get().map_err(|e| DbError::PoolExhausted(e.to_string()))
    }
}

/// The PostgreSQL advisory lock migrations are applied under (any constant coffer owns).
const MIGRATION_LOCK: i64 = 0x636f_6666_6572; // "coffer"

/// Applies pending migrations (`coffer migrate`, and every start). On PostgreSQL they run under
/// an advisory lock, on SQLite under a lock file beside the database, so processes started
/// together migrate one after the other (the later ones find nothing to do).
pub fn migrate(url: &DbUrl) -> Result<(), DbError> {
    let applied = match url.establish(false)? {
        DbConn::Sqlite(mut c) => {
            // Processes sharing one SQLite file take turns through a lock file beside it.
            let DbUrl::Sqlite(path) = url else {
                return Err(DbError::Migration("an SQLite connection from a non-SQLite URL".into()));
            };
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(format!("{path}.migrate.lock"))
                .map_err(|e| DbError::Migration(format!("{path}.migrate.lock: {e}")))?;
            lock.lock()
                .map_err(|e| DbError::Migration(format!("{path}.migrate.lock: {e}")))?;
            c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len())
        }
        DbConn::Pg(mut c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut c)?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len());
            // Closing the connection releases the lock too; unlocking is for clarity.
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut c);
            applied
        }
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    if applied > 0 {
        tracing::info!(migrations.applied = applied, "applied {applied} database migrations");
    }
    Ok(())
}

/// Statements this process sent to its database, counted by every pooled connection (for
/// `/metrics` and `coffer bench api`'s queries per request).
static STATEMENTS_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count_statements(event: diesel::connection::InstrumentationEvent<'_>) {
    if matches!(event, diesel::connection::InstrumentationEvent::StartQuery { .. }) {
        STATEMENTS_SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How many statements this process has sent to its database so far.
pub fn statements_sent() -> u64 {
    STATEMENTS_SENT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Milliseconds since the Unix epoch: the unit of every timestamp column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// [`now_ms`], but never the same twice in this process: creation times that order rows
/// ("newest first") must not tie for two creates within one millisecond.
pub fn unique_now_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let previous = LAST.fetch_max(now, Ordering::SeqCst);
    if previous < now {
        return now;
    }
    LAST.fetch_add(1, Ordering::SeqCst) + 1
}
