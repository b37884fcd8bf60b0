//! The configuration parameters a group may set, per datastore: their catalog (read from the
//! servers' own metadata — `pg_settings`, MariaDB's `SYSTEM_VARIABLES`, Redis's `CONFIG` — into
//! the snapshots in `parameters/builtin/`, which a test checks against the running servers), the
//! parameters coffer keeps for itself and never lets a group set, and how a group's values are
//! checked against the catalog (Trove's `_validate_configuration`, with its messages).

use crate::manager::Manager;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// A parameter's type, as Trove's API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Integer,
    Float,
    Boolean,
    String,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Integer => "integer",
            ParamType::Float => "float",
            ParamType::Boolean => "boolean",
            ParamType::String => "string",
        }
    }

    pub fn parse(text: &str) -> Option<ParamType> {
        serde_json::from_value(Value::String(text.to_ascii_lowercase())).ok()
    }
}

/// One parameter of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: ParamType,
    pub restart_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// The server's unit of an integer (`8kB`, `kB`, `MB`, `B`, `ms`, `s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The values a string parameter takes, when it has a fixed set (as the server spells them).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    /// A regular expression a free string must match whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

#[derive(Deserialize)]
struct Snapshot {
    parameters: Vec<Parameter>,
}

/// The catalog coffer ships for `manager` (a simulated datastore takes PostgreSQL's, so every
/// API behaviour can be tried without a server).
pub fn builtin(manager: Manager) -> Vec<Parameter> {
    let text = match manager {
        Manager::Postgresql | Manager::Simulated => include_str!("parameters/builtin/postgresql.json"),
        Manager::Mariadb => include_str!("parameters/builtin/mariadb.json"),
        Manager::Redis => include_str!("parameters/builtin/redis.json"),
    };
    // The snapshots are part of the build and checked by a unit test.
    let snapshot: Snapshot = serde_json::from_str(text).unwrap_or(Snapshot { parameters: Vec::new() });
    snapshot
        .parameters
        .into_iter()
        .filter(|p| !denied(manager, &p.name))
        .collect()
}

/// A parameter's name as the catalog keys it: lower case; MariaDB's `-` spelled `_`.
pub fn canonical(manager: Manager, key: &str) -> String {
    let lower = key.trim().to_ascii_lowercase();
    match manager {
        Manager::Mariadb => lower.replace('-', "_"),
        _ => lower,
    }
}

/// Whether coffer keeps `name` for itself: where the server listens and keeps its files, how it
/// archives, authenticates and loads code, and what coffer's own management relies on. Such a
/// parameter is never in a catalog, never accepted from an admin, and refused by the guest.
pub fn denied(manager: Manager, name: &str) -> bool {
    let name = canonical(manager, name);
    let (exact, prefixes, suffixes): (&[&str], &[&str], &[&str]) = match manager {
        Manager::Postgresql | Manager::Simulated => (
            &[
                "listen_addresses",
                "port",
                "data_directory",
                "config_file",
                "hba_file",
                "ident_file",
                "external_pid_file",
                "wal_level",
                "archive_mode",
                "max_wal_senders",
                "max_replication_slots",
                "dynamic_library_path",
                "jit_provider",
                "logging_collector",
                "log_destination",
                "log_filename",
                "log_file_mode",
                "event_source",
                "default_transaction_read_only",
                "password_encryption",
                "superuser_reserved_connections",
                "huge_pages",
                "huge_page_size",
                "shared_memory_type",
                "dynamic_shared_memory_type",
                "allow_system_table_mods",
                "ignore_system_indexes",
                "ignore_checksum_failure",
                "zero_damaged_pages",
                "ignore_invalid_pages",
                "data_sync_retry",
                "restart_after_crash",
                "cluster_name",
                "hot_standby",
                "wal_log_hints",
                "full_page_writes",
                "fsync",
            ],
            &[
                "ssl",
                "archive_",
                "recovery_",
                "primary_",
                "syslog_",
                "unix_socket_",
                "krb_",
                "include",
            ],
            &[
                "_preload_libraries",
                "_file",
                "_directory",
                "_directories",
                "_command",
                "_library",
            ],
        ),
        Manager::Mariadb => (
            &[
                "bind_address",
                "port",
                "extra_port",
                "socket",
                "datadir",
                "basedir",
                "tmpdir",
                "pid_file",
                "log_error",
                "general_log_file",
                "slow_query_log_file",
                "log_basename",
                "plugin_dir",
                "plugin_load",
                "plugin_load_add",
                "plugin_maturity",
                "init_file",
                "init_connect",
                "init_slave",
                "secure_file_priv",
                "read_only",
                "super_read_only",
                "require_secure_transport",
                "tls_version",
                "proxy_protocol_networks",
                "user",
                "chroot",
                "character_sets_dir",
                "lc_messages_dir",
                "lower_case_table_names",
                "max_user_connections",
                "old_passwords",
                "secure_auth",
                "innodb_force_recovery",
                "innodb_read_only",
                "large_pages",
                "memlock",
                "core_file",
                "log_tc",
                "server_id",
                "innodb_data_file_path",
                "innodb_temp_data_file_path",
                "innodb_buffer_pool_filename",
                "aria_log_dir_path",
                "innodb_data_home_dir",
                "innodb_log_group_home_dir",
                "innodb_undo_directory",
                "innodb_tmpdir",
            ],
            &[
                "log_bin",
                "relay_log",
                "ssl",
                "debug",
                "wsrep_",
                "server_audit_",
                "gtid_",
                "replicate_",
                "master_",
                "rpl_",
                "slave_",
                "report_",
                "unix_socket",
                "pam_",
                "skip_",
            ],
            &["_file", "_dir", "_path"],
        ),
        Manager::Redis => (
            &[
                "bind",
                "bind-source-addr",
                "port",
                "unixsocket",
                "unixsocketperm",
                "protected-mode",
                "dir",
                "dbfilename",
                "appendfilename",
                "appenddirname",
                "logfile",
                "pidfile",
                "daemonize",
                "supervised",
                "requirepass",
                "masterauth",
                "masteruser",
                "user",
                "aclfile",
                "acl-pubsub-default",
                "include",
                "loadmodule",
                "rename-command",
                "enable-protected-configs",
                "enable-debug-command",
                "enable-module-command",
                "replicaof",
                "slaveof",
                "appendonly",
                "proc-title-template",
                "set-proc-title",
                "oom-score-adj",
                "oom-score-adj-values",
                "shutdown-on-sigterm",
                "shutdown-on-sigint",
                "shutdown-timeout",
                "crash-log-enabled",
                "crash-memcheck-enabled",
                "disable-thp",
                "jemalloc-bg-thread",
            ],
            &["tls-", "syslog-", "replica-announce", "cluster-"],
            &[],
        ),
    };
    // Extension settings (`a.b`) have nothing to be checked against.
    name.contains('.')
        || exact.contains(&name.as_str())
        || prefixes.iter().any(|p| name.starts_with(p))
        || suffixes.iter().any(|s| name.ends_with(s))
}

/// Why a group's values are refused (Trove's messages name the parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The request is malformed (a parameter given twice): Trove's 400.
    #[error("{0}")]
    Malformed(String),
    /// A value the catalog refuses (unknown or kept parameter, type, range): Trove's 422.
    #[error("{0}")]
    Refused(String),
}

fn unprocessable(message: String) -> ValueError {
    ValueError::Refused(message)
}

/// A number's place against a bound: integers exactly (as i128), floats as f64.
fn below(value: &Number, bound: &Number) -> bool {
    match (as_i128(value), as_i128(bound)) {
        (Some(v), Some(b)) => v < b,
        _ => value.as_f64().unwrap_or(f64::NAN) < bound.as_f64().unwrap_or(f64::NAN),
    }
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Checks one value against its parameter; answers the value as it is stored (an enum value in
/// the server's spelling).
pub fn check_value(p: &Parameter, value: &Value) -> Result<Value, ValueError> {
    let key = &p.name;
    let wrong_type = || {
        unprocessable(format!(
            "The value provided for the configuration parameter {key} is not of type {}.",
            p.data_type.name()
        ))
    };
    match (p.data_type, value) {
        (ParamType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (ParamType::Integer, Value::Number(n)) if as_i128(n).is_some() => check_range(p, n).map(|()| value.clone()),
        (ParamType::Float, Value::Number(n)) => check_range(p, n).map(|()| value.clone()),
        (ParamType::String, Value::String(text)) => check_string(p, text),
        _ => Err(wrong_type()),
    }
}

fn check_range(p: &Parameter, n: &Number) -> Result<(), ValueError> {
    let key = &p.name;
    if let Some(min) = p.min.as_ref().filter(|min| below(n, min)) {
        return Err(unprocessable(format!(
            "The value for the configuration parameter {key} is less than the minimum allowed: {min}"
        )));
    }
    if let Some(max) = p.max.as_ref().filter(|max| below(max, n)) {
        return Err(unprocessable(format!(
            "The value for the configuration parameter {key} is greater than the maximum allowed: {max}"
        )));
    }
    Ok(())
}

fn check_string(p: &Parameter, text: &str) -> Result<Value, ValueError> {
    let key = &p.name;
    if let Some(allowed) = &p.enum_values {
        return allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(text))
            .map(|a| Value::String(a.clone()))
            .ok_or_else(|| {
                unprocessable(format!(
                    "The value provided for the configuration parameter {key} is not one of: {}.",
                    allowed.join(", ")
                ))
            });
    }
    let printable = text.len() <= 1024 && text.chars().all(|c| (' '..='~').contains(&c));
    let pattern = p.pattern.as_deref().unwrap_or("^[ -~]{0,256}$");
    let matches = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text));
    if printable && matches {
        Ok(Value::String(text.to_string()))
    } else {
        Err(unprocessable(format!(
            "The value provided for the configuration parameter {key} is not a valid string: it must match {pattern}."
        )))
    }
}

/// Checks a group's values against `catalog` (the version's live rows): each key known, allowed,
/// given once, and its value of the parameter's type and range. The first refusal (in key
/// order) answers; nothing is stored or applied.
pub fn validate(
    manager: Manager,
    version_label: &str,
    catalog: &[Parameter],
    values: &Map<String, Value>,
) -> Result<BTreeMap<String, Value>, ValueError> {
    if catalog.is_empty() && !values.is_empty() {
        return Err(unprocessable(format!(
            "Configuration groups are not supported for this datastore: {version_label}"
        )));
    }
    let by_name: BTreeMap<&str, &Parameter> = catalog.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut checked = BTreeMap::new();
    let mut keys: Vec<&String> = values.keys().collect();
    keys.sort();
    for key in keys {
        let name = canonical(manager, key);
        let Some(p) = by_name.get(name.as_str()).filter(|_| !denied(manager, &name)) else {
            return Err(unprocessable(format!(
                "The configuration parameter {key} is not supported for this datastore: {version_label}."
            )));
        };
        if checked.contains_key(&name) {
            return Err(ValueError::Malformed(format!(
                "The configuration parameter {key} is given more than once."
            )));
        }
        checked.insert(name, check_value(p, &values[key.as_str()])?);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests;
