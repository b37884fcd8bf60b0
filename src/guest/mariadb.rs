//! MariaDB (Debian's mariadb-server 10.11) as an instance's datastore: its own data directory,
//! config (`--defaults-file` first, so the system's my.cnf is never read), socket and pid file in
//! the instance's volume, listening on the instance's address at the standard port 3306, run as
//! `mysql` when coffer is root. coffer administers it as `os_admin`, created by an init file at
//! the first start (so no account is ever open), over the private socket. No other account
//! exists but the ones the API creates: see [`lockdown`].

mod accounts;
mod backup;
mod lockdown;
mod overrides;
mod replication;

use super::logs::LogDef;
use super::process::{Accounts, Server};
use super::server;
use super::sql::quote_mysql_literal as literal;
use super::{InstanceSpec, PrepareRequest, ServerSettings};
use crate::guest::driver_error::DriverError;
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const PORT: u16 = crate::manager::MARIADB_PORT;
const ADMIN: &str = "os_admin";
/// The admin's session: whatever a configuration group sets for clients (statement and lock
/// limits, SQL mode, autocommit, network timeouts), coffer's own work runs as the server's
/// defaults have it.
const ADMIN_SESSION: &str = "SET SESSION max_statement_time = 0, autocommit = 1, lock_wait_timeout = 31536000, \
     innodb_lock_wait_timeout = 50, wait_timeout = 28800, net_read_timeout = 30, net_write_timeout = 60, \
     sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION'";
const MARIADBD: &str = "/usr/sbin/mariadbd";
const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];
/// mysqld sets its own umask from these (by default 0660/0700: group-readable data files).
const PRIVATE_FILES: [(&str, &str); 2] = [("UMASK", "0600"), ("UMASK_DIR", "0700")];
const SYSTEM_USERS: [&str; 6] = [
    ADMIN,
    "root",
    "mysql",
    "mariadb.sys",
    "PUBLIC",
    crate::guest::replication::REPLICATION_USER,
];

/// The installed version as `major.minor` (e.g. `10.11`), if mariadbd is there.
pub fn detect_version() -> Option<String> {
    let out = std::process::Command::new(MARIADBD).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let full = text.split_whitespace().skip_while(|w| *w != "Ver").nth(1)?;
    let mut parts = full.split(['.', '-']);
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

pub struct MariaServer {
    spec: InstanceSpec,
}

impl MariaServer {
    pub fn new(spec: InstanceSpec) -> MariaServer {
        MariaServer { spec }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.spec.dir.join(rel)
    }

    fn running_pid(&self) -> Option<i32> {
        server::running_pid(&self.path("run/mysqld.pid"), &self.path("my.cnf").display().to_string())
    }

    fn render_config(&self, settings: &ServerSettings, init_file: Option<&Path>) -> Result<(), DriverError> {
        // The tunable defaults, the configuration group's values, then what coffer keeps for
        // itself (a later option wins).
        let mut lines = vec!["[mysqld]".to_string()];
        lines.extend(
            overrides::tunables(settings)
                .into_iter()
                .map(|(name, value)| format!("{name} = {value}")),
        );
        lines.extend(overrides::lines(settings));
        lines.extend([
            format!("datadir = {}", self.path("data").display()),
            format!("socket = {}", self.path("run/mysqld.sock").display()),
            format!("pid-file = {}", self.path("run/mysqld.pid").display()),
            format!("log-error = {}", self.path("log/error.log").display()),
            format!("tmpdir = {}", self.path("tmp").display()),
            format!("bind-address = {}", self.spec.address),
            format!("port = {PORT}"),
            "skip-name-resolve".into(),
            format!(
                "read_only = {}",
                if replication::read_only(settings) { "ON" } else { "OFF" }
            ),
            // Files may be read and written only inside this instance's own volume.
            format!("secure_file_priv = {}", self.path("tmp").display()),
        ]);
        lines.extend(self.replication_lines(settings));
        if let Some(init) = init_file {
            lines.push(format!("init-file = {}", init.display()));
        }
        server::write_file(&self.path("my.cnf"), &(lines.join("\n") + "\n"), 0o600, self.spec.user)
    }

    /// The volume's directories, owned as the server needs them.
    fn make_volume_dirs(&self) -> Result<(), DriverError> {
        server::make_dir(&self.spec.dir, crate::files::TRAVERSE_ONLY, None)?;
        for (rel, mode) in [("data", 0o700), ("run", 0o700), ("log", 0o700), ("tmp", 0o700)] {
            server::make_dir(&self.path(rel), mode, self.spec.user)?;
        }
        Ok(())
    }

    async fn initialize(&self) -> Result<Option<PathBuf>, DriverError> {
        self.make_volume_dirs()?;
        if self.path("data/mysql").exists() {
            // A first start that failed left its init file: the next start must still run it.
            let init = self.path("run/init.sql");
            return Ok(init.exists().then_some(init));
        }
        self.render_config(&ServerSettings::default(), None)?;
        let log = self.path("log/commands.log");
        let mut install = server::command(Path::new("/usr/bin/mariadb-install-db"), self.spec.user, &log)?;
        install
            .envs(PRIVATE_FILES)
            .arg(format!("--defaults-file={}", self.path("my.cnf").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        server::run(install, "mariadb-install-db", &log).await?;
        let password = crate::secrets::random_password(32);
        server::write_sealed(&self.path("admin.secret"), &password, &self.spec.secrets)?;
        // Executed by the first start, before it takes connections: the admin exists and no
        // other account mariadb-install-db made (root@localhost, 127.0.0.1, ::1 and the host
        // name, the installing OS user, anonymous ones) remains.
        let init = format!(
            "CREATE USER IF NOT EXISTS '{ADMIN}'@'localhost' IDENTIFIED BY {pw};\n\
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'localhost' WITH GRANT OPTION;\n\
             {drop}FLUSH PRIVILEGES;\n",
            pw = literal(&password),
            drop = lockdown::INSTALLER_ACCOUNTS_SQL,
        );
        let init_file = self.path("run/init.sql");
        server::write_file(&init_file, &init, 0o600, self.spec.user)?;
        Ok(Some(init_file))
    }

    async fn start_server(&self, settings: &ServerSettings, init_file: Option<&Path>) -> Result<(), DriverError> {
        if self.running_pid().is_some() {
            return Ok(());
        }
        self.render_config(settings, init_file)?;
        let log = self.path("log/commands.log");
        let mut cmd = server::command(Path::new("/usr/bin/setsid"), self.spec.user, &log)?;
        cmd.envs(PRIVATE_FILES)
            .arg("-f")
            .arg(MARIADBD)
            .arg(format!("--defaults-file={}", self.path("my.cnf").display()));
        server::run(cmd, "mariadbd", &log).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !(self.running_pid().is_some() && self.admin().await.is_ok()) {
            if std::time::Instant::now() > deadline {
                return Err(DriverError::Failed(format!(
                    "MariaDB did not start: {}",
                    server::log_tail(&self.path("log/error.log"))
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    async fn admin(&self) -> Result<mysql_async::Conn, DriverError> {
        let password = server::read_sealed(&self.path("admin.secret"), &self.spec.secrets)?;
        let opts = mysql_async::OptsBuilder::default()
            .socket(Some(self.path("run/mysqld.sock").display().to_string()))
            .init(vec![ADMIN_SESSION])
            .user(Some(ADMIN))
            .pass(Some(password.trim().to_string()));
        mysql_async::Conn::new(opts)
            .await
            .map_err(DriverError::connect("MariaDB"))
    }

    async fn exec(&self, sql: &str) -> Result<(), DriverError> {
        let mut conn = self.admin().await?;
        let result = conn.query_drop(sql).await.map_err(DriverError::query("MariaDB"));
        let _ = conn.disconnect().await;
        result
    }

    /// The accounts (`'name'@'host'`) a user name has: users are created with the host the API
    /// was given, and later operations name the user only.
    async fn accounts_named(&self, name: &str) -> Result<Vec<String>, DriverError> {
        let hosts = self.hosts_of(name).await?;
        Ok(hosts.iter().map(|h| Self::account(name, Some(h))).collect())
    }

    /// The hosts the user `name` has accounts at.
    async fn hosts_of(&self, name: &str) -> Result<Vec<String>, DriverError> {
        let mut conn = self.admin().await?;
        let hosts: Vec<String> = conn
            .exec("SELECT Host FROM mysql.user WHERE User = ?", (name,))
            .await
            .map_err(DriverError::query("MariaDB"))?;
        let _ = conn.disconnect().await;
        Ok(hosts)
    }

    fn account(name: &str, host: Option<&str>) -> String {
        format!("{}@{}", literal(name), literal(host.unwrap_or("%")))
    }
}

impl Server for MariaServer {
    fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    fn port(&self) -> u16 {
        PORT
    }

    fn manager(&self) -> crate::manager::Manager {
        crate::manager::Manager::Mariadb
    }

    fn write_config(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        self.render_config(settings, None)
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
        let mut conn = self.admin().await?;
        let full: Option<String> = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(DriverError::query("MariaDB"))?;
        let _ = conn.disconnect().await;
        Ok(full
            .unwrap_or_default()
            .split('-')
            .next()
            .unwrap_or_default()
            .to_string())
    }

    fn running(&self) -> bool {
        self.running_pid().is_some()
    }

    async fn prepare(&self, request: PrepareRequest, settings: ServerSettings) -> Result<(), DriverError> {
        let init_file = self.initialize().await?;
        self.start_server(&settings, init_file.as_deref()).await?;
        if let Some(init) = init_file {
            let _ = std::fs::remove_file(init);
            self.render_config(&settings, None)?;
        }
        for db in request.databases {
            self.create_database(db).await?;
        }
        for user in request.users {
            self.create_user(user).await?;
        }
        Ok(())
    }

    async fn start(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.start_server(&settings, None).await
    }

    async fn stop(&self) -> Result<(), DriverError> {
        if let Some(pid) = self.running_pid() {
            server::kill(pid, Duration::from_secs(60)).await;
        }
        Ok(())
    }

    async fn restart(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.stop().await?;
        self.start(settings).await
    }

    async fn healthy(&self) -> bool {
        match self.admin().await {
            Ok(mut conn) => {
                let ok = conn.query_drop("SELECT 1").await.is_ok();
                let _ = conn.disconnect().await;
                ok
            }
            Err(_) => false,
        }
    }

    async fn apply_read_only(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.render_config(&settings, None)?;
        self.exec(&format!(
            "SET GLOBAL read_only = {}",
            if replication::read_only(&settings) { "ON" } else { "OFF" }
        ))
        .await
    }

    async fn lock_down(&self) -> Result<(), DriverError> {
        self.drop_foreign_accounts().await
    }

    fn logs(&self) -> Vec<LogDef> {
        vec![
            LogDef {
                name: "general",
                user: true,
                file: self.path("log/general.log"),
            },
            LogDef {
                name: "slow_query",
                user: true,
                file: self.path("log/slow.log"),
            },
            LogDef {
                name: "error",
                user: false,
                file: self.path("log/error.log"),
            },
        ]
    }

    async fn switch_log(&self, name: String, on: bool) -> Result<(), DriverError> {
        let (variable, file) = match name.as_str() {
            "general" => ("general_log", self.path("log/general.log")),
            "slow_query" => ("slow_query_log", self.path("log/slow.log")),
            other => return Err(DriverError::Failed(format!("the log {other} cannot be switched"))),
        };
        let file = literal(&file.display().to_string());
        self.exec(&format!("SET GLOBAL {variable}_file = {file}")).await?;
        self.exec(&format!("SET GLOBAL {variable} = {}", if on { "ON" } else { "OFF" }))
            .await
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
