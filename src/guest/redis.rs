//! Redis (Debian's redis-server 7) as an instance's datastore: its own config, data directory,
//! socket and pid file in the instance's volume, listening on the instance's address at the
//! standard port 6379, run as `redis` when coffer is root. Clients authenticate with the
//! instance's password (returned once by the create, as Trove's root-on-create); coffer
//! administers the server as its own ACL user `os_admin` over the private socket. Redis has no
//! users or databases in Trove's sense: those operations answer 422.

mod backup;
mod overrides;
mod replication;

use super::logs::LogDef;
use super::process::Server;
use super::server;
use super::{InstanceSpec, PrepareRequest, ServerSettings};
use crate::guest::driver_error::DriverError;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const PORT: u16 = crate::manager::REDIS_PORT;
const ADMIN: &str = "os_admin";
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// The installed version as `major.minor` (e.g. `7.0`), if redis-server is there.
pub fn detect_version() -> Option<String> {
    let out = std::process::Command::new(REDIS_SERVER)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let full = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut parts = full.split('.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

pub struct RedisServer {
    spec: InstanceSpec,
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.trim().as_bytes()))
}

/// The memory Redis may use by default: half the flavor's (at least 16 MiB), in bytes.
fn default_maxmemory(settings: &ServerSettings) -> i64 {
    (settings.memory_mb / 2).max(16) * 1024 * 1024
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl RedisServer {
    pub fn new(spec: InstanceSpec) -> RedisServer {
        RedisServer { spec }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.spec.dir.join(rel)
    }

    fn conf(&self) -> PathBuf {
        self.path("redis.conf")
    }

    fn running_pid(&self) -> Option<i32> {
        server::running_pid(&self.path("run/redis.pid"), &self.spec.address.to_string())
    }

    fn render_config(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        self.render_config_with(settings, true)
    }

    /// Renders the config; `appendonly` off only for the first start of a restore (Redis loads
    /// the RDB only when AOF is off).
    fn render_config_with(&self, settings: &ServerSettings, appendonly: bool) -> Result<(), DriverError> {
        // The config holds only SHA-256 digests of the passwords (Redis ACL's `#<hex>`).
        let admin = sha256_hex(&server::read_sealed(&self.path("admin.secret"), &self.spec.secrets)?);
        let client = sha256_hex(&server::read_sealed(&self.path("client.secret"), &self.spec.secrets)?);
        // The tunable defaults, the configuration group's values, then what coffer keeps for
        // itself (a later directive wins).
        let mut lines = vec![format!("maxmemory {}", default_maxmemory(settings))];
        lines.extend(overrides::lines(settings));
        lines.extend([
            format!("bind {}", self.spec.address),
            format!("port {PORT}"),
            "protected-mode no".into(),
            "daemonize yes".into(),
            format!("pidfile {}", quote(&self.path("run/redis.pid").display().to_string())),
            format!(
                "unixsocket {}",
                quote(&self.path("run/redis.sock").display().to_string())
            ),
            "unixsocketperm 700".into(),
            format!("dir {}", quote(&self.path("data").display().to_string())),
            format!("logfile {}", quote(&self.path("log/redis.log").display().to_string())),
            format!("appendonly {}", if appendonly { "yes" } else { "no" }),
            format!("user default on #{client} ~* &* {}", self.client_rule(settings)),
            format!("user {ADMIN} on #{} ~* &* +@all", admin),
        ]);
        lines.extend(self.replication_lines(settings)?);
        server::write_file(&self.conf(), &(lines.join("\n") + "\n"), 0o600, self.spec.user)
    }

    async fn start_server(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        if self.running_pid().is_some() {
            return Ok(());
        }
        self.render_config(settings)?;
        self.start_rendered().await
    }

    /// Starts the server with the config as rendered.
    async fn start_rendered(&self) -> Result<(), DriverError> {
        let log = self.path("log/commands.log");
        let mut cmd = server::command(Path::new(REDIS_SERVER), self.spec.user, &log)?;
        cmd.arg(self.conf());
        server::run(cmd, "redis-server", &log).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.healthy().await {
            if std::time::Instant::now() > deadline {
                return Err(DriverError::Failed(format!(
                    "Redis did not start: {}",
                    server::log_tail(&self.path("log/redis.log"))
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub(crate) async fn admin(&self) -> Result<redis::aio::MultiplexedConnection, DriverError> {
        let password = server::read_sealed(&self.path("admin.secret"), &self.spec.secrets)?;
        let info = redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Unix(self.path("run/redis.sock")),
            redis: redis::RedisConnectionInfo {
                db: 0,
                username: Some(ADMIN.into()),
                password: Some(password.trim().into()),
                ..Default::default()
            },
        };
        let client = redis::Client::open(info).map_err(DriverError::connect("Redis"))?;
        tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
            .await
            .map_err(|_| DriverError::failed("connect to Redis: timed out"))?
            .map_err(DriverError::connect("Redis"))
    }
}

impl RedisServer {
    /// What the clients' account (`default`) may run. Trove's full command set needs the
    /// instance's own account (its server writes only its own files). With an account shared by
    /// every instance, a full volume or a fenced source (no writes, and no way to re-grant
    /// them), clients may not reconfigure, shut down or re-grant; coffer alone decides whom a
    /// server follows, and a group member's clients may not change its accounts or settings.
    fn client_rule(&self, settings: &ServerSettings) -> String {
        let mut rule = String::from("+@all");
        rule.push_str(match (self.spec.user.is_some(), settings.refuses_writes()) {
            (true, false) => " -replicaof -slaveof -failover",
            (false, false) => " -@admin -@dangerous +config|get +info",
            (_, true) => " -@admin -@dangerous +config|get +info -@write",
        });
        if settings.replication.is_some() {
            rule.push_str(" -config|set -acl|setuser -acl|deluser -acl|load -acl|save");
        }
        rule
    }

    /// The volume's directories and secrets (the admin's, and the clients' password).
    fn make_volume(&self, request: &PrepareRequest) -> Result<(), DriverError> {
        server::make_dir(&self.spec.dir, crate::files::TRAVERSE_ONLY, None)?;
        for (rel, mode) in [("data", 0o700), ("run", 0o700), ("log", 0o700)] {
            server::make_dir(&self.path(rel), mode, self.spec.user)?;
        }
        if !self.path("admin.secret").exists() {
            server::write_sealed(
                &self.path("admin.secret"),
                &crate::secrets::random_password(32),
                &self.spec.secrets,
            )?;
        }
        let client = request
            .root_password
            .clone()
            .ok_or_else(|| DriverError::failed("a Redis instance needs its password (root_password) at prepare"))?;
        server::write_sealed(&self.path("client.secret"), &client, &self.spec.secrets)
    }
}

impl Server for RedisServer {
    fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    fn port(&self) -> u16 {
        PORT
    }

    fn manager(&self) -> crate::manager::Manager {
        crate::manager::Manager::Redis
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
        let mut conn = self.admin().await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(DriverError::query("Redis"))?;
        info.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| DriverError::failed("Redis did not report its version"))
    }

    fn running(&self) -> bool {
        self.running_pid().is_some()
    }

    async fn prepare(&self, request: PrepareRequest, settings: ServerSettings) -> Result<(), DriverError> {
        self.make_volume(&request)?;
        self.start_server(&settings).await
    }

    fn logs(&self) -> Vec<LogDef> {
        vec![LogDef {
            name: "server",
            user: false,
            file: self.path("log/redis.log"),
        }]
    }

    fn backups(&self) -> Option<&dyn super::process::Backups> {
        Some(self)
    }

    fn replication(&self) -> Option<&dyn super::process::Replication> {
        Some(self)
    }

    async fn start(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.start_server(&settings).await
    }

    async fn stop(&self) -> Result<(), DriverError> {
        if let Some(pid) = self.running_pid() {
            server::kill(pid, Duration::from_secs(30)).await;
        }
        Ok(())
    }

    async fn restart(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.stop().await?;
        self.start(settings).await
    }

    async fn apply_read_only(&self, settings: ServerSettings) -> Result<(), DriverError> {
        self.render_config(&settings)?;
        let mut conn = self.admin().await?;
        // The whole rule again (`reset` keeps no grant the clients gave themselves), and the
        // sessions already open are bound by it at their next command.
        let client = sha256_hex(&server::read_sealed(&self.path("client.secret"), &self.spec.secrets)?);
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg("default")
            .arg("reset")
            .arg("on")
            .arg(format!("#{client}"));
        for part in ["~*", "&*"]
            .into_iter()
            .map(String::from)
            .chain(self.client_rule(&settings).split_whitespace().map(String::from))
        {
            cmd.arg(part);
        }
        cmd.query_async::<()>(&mut conn)
            .await
            .map_err(DriverError::query("Redis"))
    }

    async fn healthy(&self) -> bool {
        match self.admin().await {
            Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
            Err(_) => false,
        }
    }
}
