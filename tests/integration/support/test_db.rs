//! A fresh database and temp dir per test ([`TestDb`]), with what it leaves behind cleaned up:
//! the datastore servers started under it, their OS accounts, and (when the test failed) its
//! coffer's log shown.

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test; dropped with the test's temp dir (SQLite) or left in
/// the private test server (PostgreSQL, which the test script removes as a whole).
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The addresses this test's instances get.
    pub pool: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        kill_servers_under(&self.dir.path().join("instances"));
        if std::thread::panicking() {
            self.show_coffer_log();
        }
    }
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        // Datastore servers run as their own service users, who must reach their volumes here.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("coffer.db").display()),
            Backend::Postgres => fresh_pg_database(),
        };
        TestDb {
            url,
            dir,
            pool: private_pool(),
        }
    }
}

impl TestDb {
    /// A failed test shows what its coffer processes logged (the tail, and where a copy of the
    /// whole log is kept: `/tmp/coffer-failed-*.log`, left for a look like its database, which
    /// it names; CI's clean machine drops both).
    fn show_coffer_log(&self) {
        const TAIL: usize = 60;
        let log = self.dir.path().join("coffer.log");
        let Ok(text) = std::fs::read_to_string(&log) else {
            return;
        };
        let kept = std::env::temp_dir().join(format!("coffer-failed-{}.log", uuid::Uuid::new_v4().simple()));
        let kept_note = match std::fs::write(&kept, &text) {
            Ok(()) => format!("whole log kept at {}", kept.display()),
            Err(e) => format!("the whole log could not be kept: {e}"),
        };
        let lines: Vec<&str> = text.lines().collect();
        println!(
            "--- coffer.log, last {TAIL} lines ({kept_note}; database {}) ---",
            self.url
        );
        for line in &lines[lines.len().saturating_sub(TAIL)..] {
            println!("{line}");
        }
        println!("--- end of coffer.log ---");
    }
}

fn fresh_pg_database() -> String {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let admin = std::env::var("COFFERTEST_PG_URL")
        .expect("COFFERTEST_PG_URL is not set: PostgreSQL tests need the private test server; run ./scripts/test.sh");
    let name = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(&admin).expect("connect to the test PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).expect("URL has a database part");
    format!("{base}/{name}")
}

/// A /24 of the address pool no other test of this run uses (nor, very likely, another run).
fn private_pool() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let third = (std::process::id().wrapping_mul(7).wrapping_add(n)) % 250 + 2;
    format!("127.77.{third}.0/24")
}

/// Kills (SIGKILL, by PID) every datastore server whose pid file lies under `dir`, so a failed
/// test leaves no server behind.
fn kill_servers_under(dir: &std::path::Path) {
    let Ok(instances) = std::fs::read_dir(dir) else { return };
    for instance in instances.flatten() {
        for pid_file in ["guest.pid", "data/postmaster.pid", "run/mysqld.pid", "run/redis.pid"] {
            let Ok(text) = std::fs::read_to_string(instance.path().join(pid_file)) else {
                continue;
            };
            if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) on a pid read from our own test's pid file.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    // The instances' own OS accounts go with them (a test may end without deleting them).
    let Ok(instances) = std::fs::read_dir(dir) else { return };
    for instance in instances.flatten() {
        let id = instance.file_name().to_string_lossy().to_string();
        if let Err(e) = coffer::guest::account::remove_now(&id) {
            eprintln!("removing the account of {id}: {e}");
        }
    }
}
