//! PostgreSQL (Debian's postgresql-15) as an instance's datastore: its own cluster in the
//! instance's volume, its own config, socket directory and pid file, listening on the instance's
//! address at the standard port 5432, run as `postgres` when coffer is root. coffer administers
//! it as `os_admin` (a password only coffer knows, kept in the volume with mode 0600) over the
//! private socket; WAL is archived into the volume for backups to build on.

mod accounts;
mod backup;
mod overrides;
mod replication;
mod restore;

pub use backup::parse_lsn;

use super::logs::LogDef;
use super::process::{Accounts, Server};
use super::server;
use super::sql::{quote_ident, quote_literal};
use super::{InstanceSpec, PrepareRequest, ServerSettings};
use crate::guest::driver_error::DriverError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_postgres::NoTls;

pub const PORT: u16 = crate::manager::POSTGRES_PORT;
const ADMIN: &str = "os_admin";
/// The admin's session settings (see [`PgServer::admin`]).
pub(crate) const ADMIN_SESSION: &str = "-c statement_timeout=0 -c lock_timeout=0 \
    -c idle_in_transaction_session_timeout=0 -c idle_session_timeout=0 -c log_statement=none \
    -c log_min_duration_statement=-1 -c log_duration=off -c log_min_error_statement=panic";

/// Where PostgreSQL 15's programs are.
pub fn bin_dir() -> PathBuf {
    PathBuf::from("/usr/lib/postgresql/15/bin")
}

/// The installed major version, if the binaries are there.
pub fn detect_version() -> Option<String> {
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<String> = std::fs::read_dir(base)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("bin/postgres").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions.pop()
}

/// One instance's PostgreSQL server.
pub struct PgServer {
    pub spec: InstanceSpec,
}

impl PgServer {
    pub fn new(spec: InstanceSpec) -> PgServer {
        PgServer { spec }
    }

    fn data(&self) -> PathBuf {
        self.spec.dir.join("data")
    }
    fn run_dir(&self) -> PathBuf {
        self.spec.dir.join("run")
    }
    /// Output of the commands coffer runs (initdb, pg_ctl).
    fn log(&self) -> PathBuf {
        self.spec.dir.join("log/commands.log")
    }
    /// The server's own log, written by the service user.
    fn server_log(&self) -> PathBuf {
        self.spec.dir.join("log/postgresql.log")
    }
    fn secret(&self) -> PathBuf {
        self.spec.dir.join("admin.secret")
    }

    pub fn running_pid(&self) -> Option<i32> {
        server::running_pid(&self.data().join("postmaster.pid"), &self.data().display().to_string())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<std::process::Command, DriverError> {
        let mut cmd = server::command(&bin_dir().join("pg_ctl"), self.spec.user, &self.log())?;
        cmd.arg("-D").arg(self.data()).args(args);
        Ok(cmd)
    }

    /// The volume's directories, owned as the server needs them.
    fn make_volume_dirs(&self) -> Result<(), DriverError> {
        server::make_dir(&self.spec.dir, crate::files::TRAVERSE_ONLY, None)?;
        let dirs = [
            (self.data(), 0o700),
            (self.run_dir(), 0o700),
            (self.spec.dir.join("archive"), 0o700),
            (self.spec.dir.join("log"), 0o700),
        ];
        for (dir, mode) in dirs {
            server::make_dir(&dir, mode, self.spec.user)?;
        }
        Ok(())
    }

    /// initdb with the admin password, once.
    async fn initialize(&self) -> Result<(), DriverError> {
        self.make_volume_dirs()?;
        if self.data().join("PG_VERSION").exists() {
            return Ok(());
        }
        let password = crate::secrets::random_password(32);
        server::write_sealed(&self.secret(), &password, &self.spec.secrets)?;
        let pwfile = self.spec.dir.join("run/initdb.pw");
        server::write_file(&pwfile, &password, 0o600, self.spec.user)?;
        let mut initdb = server::command(&bin_dir().join("initdb"), self.spec.user, &self.log())?;
        initdb
            .arg("-D")
            .arg(self.data())
            .args(["-U", ADMIN, "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = server::run(initdb, "initdb", &self.log()).await;
        let _ = std::fs::remove_file(&pwfile);
        result
    }

    /// Renders the server's configuration: the tunable defaults (the flavor's memory), then the
    /// configuration group's values, then what coffer keeps for itself (a later line wins).
    pub fn render_config(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        let ram = settings.memory_mb.max(128);
        let mut lines = vec![
            "max_connections = 100".to_string(),
            format!("shared_buffers = '{}MB'", (ram / 4).max(16)),
            format!("effective_cache_size = '{}MB'", (ram * 3 / 4).max(32)),
        ];
        lines.extend(overrides::lines(settings));
        lines.extend([
            format!("listen_addresses = '{}'", self.spec.address),
            format!("port = {PORT}"),
            format!("unix_socket_directories = '{}'", self.run_dir().display()),
            // Only the server's own user (and root) may connect over the socket.
            "unix_socket_permissions = 0700".into(),
            "wal_level = replica".into(),
            "archive_mode = on".into(),
            format!(
                "archive_command = 'test ! -f {0}/%f && cp %p {0}/%f'",
                self.spec.dir.join("archive").display()
            ),
            format!(
                "default_transaction_read_only = {}",
                if settings.refuses_writes() { "on" } else { "off" }
            ),
        ]);
        lines.extend(self.replication_lines(settings)?);
        server::write_file(
            &self.data().join("coffer.conf"),
            &(lines.join("\n") + "\n"),
            0o600,
            self.spec.user,
        )?;
        let main_conf = self.data().join("postgresql.conf");
        let text = std::fs::read_to_string(&main_conf).map_err(DriverError::at(&main_conf))?;
        if !text.contains("include_if_exists = 'coffer.conf'") {
            server::write_file(
                &main_conf,
                &(text + "\ninclude_if_exists = 'coffer.conf'\n"),
                0o600,
                self.spec.user,
            )?;
        }
        let mut hba = self.admin_and_replication_hba(settings)?;
        for cidr in &settings.allowed_cidrs {
            hba.push(format!("host all all {cidr} scram-sha-256"));
        }
        server::write_file(
            &self.data().join("pg_hba.conf"),
            &(hba.join("\n") + "\n"),
            0o600,
            self.spec.user,
        )
    }

    async fn start_server(&self) -> Result<(), DriverError> {
        if self.running_pid().is_some() {
            return Ok(());
        }
        let cmd = self.pg_ctl(&[
            "-l",
            &self.server_log().display().to_string(),
            "-w",
            "-t",
            "60",
            "start",
        ])?;
        server::run(cmd, "pg_ctl start", &self.log()).await
    }

    /// Connects as the admin over the private socket, in a session of its own: a configuration
    /// group's timeouts do not apply to coffer's work, and no statement of it (passwords among
    /// them) reaches the server's log, whatever a group asks the server to log.
    pub async fn admin(&self, database: &str) -> Result<tokio_postgres::Client, DriverError> {
        self.connect_admin(database, ADMIN_SESSION).await
    }

    /// Connects as the admin with the session `options` (none: the settings clients get).
    async fn connect_admin(&self, database: &str, options: &str) -> Result<tokio_postgres::Client, DriverError> {
        let password = server::read_sealed(&self.secret(), &self.spec.secrets)?;
        let (client, connection) = tokio_postgres::Config::new()
            .options(options)
            .host_path(self.run_dir())
            .port(PORT)
            .user(ADMIN)
            .password(password.trim())
            .dbname(database)
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
            .await
            .map_err(DriverError::connect("PostgreSQL"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Whether `sql` finds a row (its `$1` bound to `param` when it has one).
    async fn found(client: &tokio_postgres::Client, sql: &str, param: &str) -> Result<bool, DriverError> {
        let row = if sql.contains("$1") {
            client.query_opt(sql, &[&param]).await
        } else {
            client.query_opt(sql, &[]).await
        };
        row.map(|r| r.is_some()).map_err(DriverError::query("PostgreSQL"))
    }

    async fn exec(&self, database: &str, sql: &str) -> Result<(), DriverError> {
        let client = self.admin(database).await?;
        client
            .batch_execute(sql)
            .await
            .map_err(DriverError::query("PostgreSQL"))
    }

    async fn grant(&self, user: &str, database: &str) -> Result<(), DriverError> {
        let (u, d) = (quote_ident(user), quote_ident(database));
        self.exec("postgres", &format!("GRANT ALL PRIVILEGES ON DATABASE {d} TO {u}"))
            .await?;
        self.exec(database, &format!("GRANT ALL ON SCHEMA public TO {u}")).await
    }
}

impl Server for PgServer {
    fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    fn port(&self) -> u16 {
        PORT
    }

    fn manager(&self) -> crate::manager::Manager {
        crate::manager::Manager::Postgresql
    }

    fn write_config(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        self.render_config(settings)
    }

    async fn apply_overrides(&self, settings: ServerSettings) -> Result<super::process::Applied, DriverError> {
        overrides::apply(self, settings).await
    }

    async fn current_values(
        &self,
        names: Vec<String>,
    ) -> Result<std::collections::BTreeMap<String, String>, DriverError> {
        overrides::current(self, names).await
    }

    async fn version(&self) -> Result<String, DriverError> {
        let client = self.admin("postgres").await?;
        let row = client
            .query_one("SHOW server_version", &[])
            .await
            .map_err(DriverError::query("PostgreSQL"))?;
        let full: String = row.get(0);
        Ok(full.split_whitespace().next().unwrap_or_default().to_string())
    }

    async fn apply_access(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.render_config(&settings)?;
        self.exec("postgres", "SELECT pg_reload_conf()").await
    }

    fn running(&self) -> bool {
        self.running_pid().is_some()
    }

    /// initdb, configure, start, create the initial databases and users.
    async fn prepare(&self, request: PrepareRequest, settings: ServerSettings) -> Result<(), DriverError> {
        self.initialize().await?;
        self.render_config(&settings)?;
        self.start_server().await?;
        // Users reach only the databases they are granted, not the system ones.
        self.exec("postgres", "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
            .await?;
        self.exec("postgres", "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC")
            .await?;
        for db in request.databases {
            self.create_database(db).await?;
        }
        for user in request.users {
            self.create_user(user).await?;
        }
        Ok(())
    }

    async fn start(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.render_config(&settings)?;
        self.start_server().await
    }

    async fn stop(&self) -> Result<(), DriverError> {
        if self.running_pid().is_none() {
            return Ok(());
        }
        let cmd = self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"])?;
        server::run(cmd, "pg_ctl stop", &self.log()).await
    }

    async fn restart(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.stop().await?;
        self.start(settings).await
    }

    async fn healthy(&self) -> bool {
        if self.running_pid().is_none() {
            return false;
        }
        match self.admin("postgres").await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    async fn apply_read_only(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.render_config(&settings)?;
        self.exec("postgres", "SELECT pg_reload_conf()").await?;
        if settings.read_only {
            // Sessions already open would keep writing: they reconnect, read-only.
            let sql = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename <> '{ADMIN}' AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
            self.exec("postgres", &sql).await?;
        }
        Ok(())
    }

    fn logs(&self) -> Vec<LogDef> {
        // One server log: statements go to it while `general` is on; errors always.
        vec![
            LogDef {
                name: "general",
                user: true,
                file: self.server_log(),
            },
            LogDef {
                name: "error",
                user: false,
                file: self.server_log(),
            },
        ]
    }

    async fn switch_log(&self, name: String, on: bool) -> Result<(), DriverError> {
        if name != "general" {
            return Err(DriverError::Failed(format!("the log {name} cannot be switched")));
        }
        // ALTER SYSTEM keeps it across restarts; a reload applies it now.
        let value = if on { "all" } else { "none" };
        self.exec("postgres", &format!("ALTER SYSTEM SET log_statement = '{value}'"))
            .await?;
        self.exec("postgres", "SELECT pg_reload_conf()").await
    }

    fn backups(&self) -> Option<&dyn super::process::Backups> {
        Some(self)
    }

    fn accounts(&self) -> Option<&dyn Accounts> {
        Some(self)
    }

    fn replication(&self) -> Option<&dyn super::process::Replication> {
        Some(self)
    }
}
