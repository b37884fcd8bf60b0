//! Typed configuration, built once at start and injected everywhere.
//!
//! Layers, later ones win: built-in defaults → `./config.toml` (or `--config PATH`) →
//! environment variables `COFFER_<SECTION>_<KEY>`. Section names contain no `_`, so the first
//! `_` after the section ends it (`COFFER_DATABASE_POOL_SIZE` → `[database] pool_size`). An
//! environment value is parsed as the type of the key it overrides, so `COFFER_TASKMANAGER_NODE_ID=7`
//! stays a string while `COFFER_GUEST_HEARTBEAT_INTERVAL_S=2` is a number.

mod backup;
mod cluster;
mod defaults;
pub mod duration;
mod env;
pub mod kinds;
pub mod validate;

pub use backup::BackupConfig;
pub use cluster::{ClusterConfig, TelemetryConfig};
pub use kinds::{AuthMode, GuestHost, LogFormat, Transport};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything coffer can be told; the shipped `config.toml` documents each key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub guest: GuestConfig,
    pub taskmanager: TaskManagerConfig,
    pub conductor: ConductorConfig,
    pub compute: ComputeConfig,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
    pub quota: QuotaConfig,
    pub backup: BackupConfig,
    pub log: LogConfig,
    pub cluster: ClusterConfig,
    pub telemetry: TelemetryConfig,
    pub testing: TestingConfig,
    /// The file this config was read from (handed on to the guest processes coffer starts).
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// `COFFER_*` variables that name no key (a stray `COFFER_CWD`, a typo): warned about at
    /// start, not fatal (an unknown key in a file is).
    #[serde(skip)]
    pub unknown_env: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the REST API listens on.
    pub bind: String,
    /// actix-web worker threads.
    pub workers: usize,
    /// Default page size of every list (Trove's `*_page_size`).
    pub page_size: i64,
    /// How long `GET /instances/{id}` waits for the guest's filesystem stats before it answers
    /// without them; a slow guest must not hold an API worker for Trove's full 15 s.
    #[serde(with = "crate::config::duration::millis")]
    pub show_guest_timeout_ms: Duration,
    /// Seconds an in-flight request may take to finish after SIGTERM.
    #[serde(with = "crate::config::duration::whole_secs")]
    pub shutdown_timeout_s: Duration,
    /// The URL clients reach this API at, used in every link and in the token catalog. Empty:
    /// `http://` + the bound address (the host name when bound to all addresses).
    pub public_url: String,
    /// Addresses (IPs or CIDRs) of reverse proxies whose `X-Forwarded-Host`/`-Proto` (or
    /// `Forwarded`) headers are believed; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// How often an API process with an event stream open reads the stored events.
    #[serde(with = "crate::config::duration::millis")]
    pub events_poll_ms: Duration,
    /// How many stored events are kept for streams resuming with `Last-Event-ID`.
    pub events_kept: i64,
    /// An idle event stream sends a keep-alive comment this often, and checks its token then
    /// (a revoked token's stream ends).
    #[serde(with = "crate::config::duration::millis")]
    pub events_keepalive_ms: Duration,
    /// Event streams one API process keeps open at most (more get 429 with Retry-After).
    pub events_max_streams: usize,
    /// Of those, at most this many for one project.
    pub events_max_streams_per_project: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://<path>` (embedded default) or `postgres://user@host:port/db`.
    pub url: String,
    /// Connections for API requests; requests beyond it wait up to `acquire_timeout_ms`, then
    /// get 503.
    pub pool_size: u32,
    /// Connections of the node's own work (task manager, conductor, schedulers), which API load
    /// can never take.
    pub internal_pool_size: u32,
    #[serde(with = "crate::config::duration::millis")]
    pub acquire_timeout_ms: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// "memory" (in-process, embedded default) or "amqp" (RabbitMQ).
    pub transport: Transport,
    pub amqp_url: String,
    pub control_exchange: String,
    /// Sign guest <-> control-plane messages under each instance's key and check them.
    pub sign_guest_messages: bool,
    /// Capacity of each in-process topic queue; a full queue makes `cast` wait (back-pressure).
    pub queue_capacity: usize,
    /// Unacknowledged messages a RabbitMQ consumer may hold (the amqp transport).
    pub prefetch: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuestConfig {
    #[serde(with = "crate::config::duration::secs")]
    pub heartbeat_interval_s: Duration,
    /// A healthy service whose last heartbeat is older than this is reported (and stored) as
    /// FAILED_TIMEOUT_GUESTAGENT, i.e. `operating_status` ERROR.
    #[serde(with = "crate::config::duration::secs")]
    pub heartbeat_expiry_s: Duration,
    /// Trove's `agent_call_low_timeout` and `agent_call_high_timeout`.
    #[serde(with = "crate::config::duration::secs")]
    pub call_low_timeout_s: Duration,
    #[serde(with = "crate::config::duration::secs")]
    pub call_high_timeout_s: Duration,
    /// A signed request a guest receives later than this after it was issued is dropped.
    #[serde(with = "crate::config::duration::secs")]
    pub message_ttl_s: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskManagerConfig {
    /// Owner written on the flows this node runs; stable across restarts. Empty = host name.
    pub node_id: String,
    /// How long a claimed flow stays ours without renewal; another node may take it after.
    #[serde(with = "crate::config::duration::secs")]
    pub lease_s: Duration,
    /// How often unowned or expired flows are looked for (a lost cast is found by this scan).
    #[serde(with = "crate::config::duration::secs")]
    pub scan_interval_s: Duration,
    /// Trove's `usage_timeout`: how long a create waits for the guest to report healthy.
    #[serde(with = "crate::config::duration::secs")]
    pub usage_timeout_s: Duration,
    /// How long a delete waits for the server to go away.
    #[serde(with = "crate::config::duration::secs")]
    pub delete_timeout_s: Duration,
    /// How long a restart waits for the guest.
    #[serde(with = "crate::config::duration::secs")]
    pub restart_timeout_s: Duration,
    /// How long a resize waits for the guest (Trove's resize_time_out).
    #[serde(with = "crate::config::duration::secs")]
    pub resize_timeout_s: Duration,
    /// How often a waiting step checks again.
    #[serde(with = "crate::config::duration::millis")]
    pub poll_interval_ms: Duration,
    /// First back-off after a failed step; doubles per consecutive failure, capped at 30 s.
    #[serde(with = "crate::config::duration::millis")]
    pub retry_backoff_ms: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConductorConfig {
    /// Most heartbeats applied in one database transaction.
    pub batch_max: usize,
    /// How long a batch waits for more messages after its first one.
    #[serde(with = "crate::config::duration::millis_f64")]
    pub batch_linger_ms: Duration,
    /// How often stale heartbeats are swept into FAILED_TIMEOUT_GUESTAGENT.
    #[serde(with = "crate::config::duration::secs")]
    pub expiry_sweep_interval_s: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Where instance volumes (data directories) live. Empty: `/var/lib/coffer/instances` when
    /// coffer runs as root, else `coffer-data/instances`.
    pub data_dir: String,
    /// Addresses handed to `process` instances.
    pub address_pool: String,
    /// How long the simulated datastore takes to prepare.
    #[serde(with = "crate::config::duration::millis")]
    pub simulated_prepare_ms: Duration,
    /// Where guest agents run: "in_process" (guest sessions in the task manager's process) or
    /// "process" (each real instance's guest is its own `coffer guest --instance-id` process,
    /// simulated guests live in a `coffer guest --simulated N` pool) — distributed mode.
    pub guest_host: GuestHost,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// "keystone": every API request needs a token from coffer's identity service (`/v3`).
    /// "noauth": any token, the project is the one in the URL — for local development only.
    pub mode: AuthMode,
    /// How long an issued token is valid.
    #[serde(with = "crate::config::duration::secs")]
    pub token_ttl_s: Duration,
    /// The region named in the service catalog.
    pub region: String,
    /// The bootstrap admin's password; empty: generated at first start and written (0600) to
    /// `admin_password_file`.
    pub admin_password: String,
    pub admin_password_file: String,
    /// Failed logins allowed per user within `failed_login_window_s` (ten times as many per
    /// client address) before logins are refused with 429.
    pub max_failed_logins: usize,
    #[serde(with = "crate::config::duration::secs")]
    pub failed_login_window_s: Duration,
    /// Passwords checked at once (each check is ~19 MiB of argon2 memory and a core's work); a
    /// login that finds every slot busy gets 429 at once. 0: one per CPU core.
    pub password_check_slots: usize,
}

/// Default limits of every project (Trove's max_*_per_tenant); -1 is unlimited.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    pub instances: i32,
    /// MB of flavor memory.
    pub ram: i32,
    /// GB of volume.
    pub volumes: i32,
    pub backups: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The master key (32 bytes, base64) every stored secret is sealed under; created with
    /// mode 0600 when missing. All nodes of a deployment share it.
    pub master_key_file: String,
    /// How long a process that must not create the key (a guest pool) waits for the file.
    #[serde(with = "crate::config::duration::secs")]
    pub wait_for_key_s: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// "text" or "json"; `--log-format` overrides it.
    pub format: LogFormat,
    /// tracing filter directive, e.g. "info" or "coffer=debug".
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestingConfig {
    /// Fault injection is refused unless this is true.
    pub enabled: bool,
    /// Comma-separated `<flow>:<step>:panic|error|drop_cast`, e.g. `create:2:panic`.
    pub fail_at: String,
    /// How many MiB one GB of volume size is (1024); tests shrink it to fill a volume quickly.
    pub volume_unit_mb: i64,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `path` (or `./config.toml` when it exists), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("config.toml")).filter(|p| p.exists()),
        };
        let text = match &file {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?,
            None => String::new(),
        };
        let mut config = Self::from_toml_and_env(&text, std::env::vars())?;
        config.file = file.map(|f| std::path::absolute(&f).unwrap_or(f));
        Ok(config)
    }

    /// Builds a config from TOML text plus `COFFER_*` variables (the testable core of `load`).
    pub fn from_toml_and_env(text: &str, vars: impl Iterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let from_file: Config =
            toml::from_str(text).map_err(|e| ConfigError::Invalid(kinds::naming_the_key(text, &e)))?;
        let mut tree = toml::Value::try_from(&from_file).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut unknown = Vec::new();
        for (name, value) in vars {
            if let Some(rest) = name.strip_prefix("COFFER_") {
                if !env::apply_override(&mut tree, rest, &value)? {
                    unknown.push(name.clone());
                }
            }
        }
        // Read back as text, so that an error (a bad value from the environment) names its key.
        let merged = toml::to_string(&tree).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut config: Config =
            toml::from_str(&merged).map_err(|e| ConfigError::Invalid(kinds::naming_the_key(&merged, &e)))?;
        config.validate()?;
        unknown.sort();
        config.unknown_env = unknown;
        Ok(config)
    }

    /// The directory instance volumes live in (see `[compute] data_dir`).
    pub fn instances_dir(&self) -> PathBuf {
        if !self.compute.data_dir.is_empty() {
            return PathBuf::from(&self.compute.data_dir);
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            PathBuf::from("/var/lib/coffer/instances")
        } else {
            PathBuf::from("coffer-data/instances")
        }
    }
}

/// This host's name.
pub fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "coffer".into())
}

#[cfg(test)]
mod tests;
