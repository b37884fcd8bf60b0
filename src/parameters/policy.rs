//! What a group may not do: set a parameter coffer keeps for itself (where the server listens
//! and keeps its files, how it archives, authenticates and loads code, what coffer's own
//! management relies on), or give one server more memory than its flavor pays for.

use super::{canonical, Parameter, ValueError};
use crate::manager::Manager;
use serde_json::Value;
use std::collections::BTreeMap;

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

/// The memory parameters a flavor bounds, each with the share of the flavor's RAM it may take:
/// what one server allocates must fit the memory its instance pays for.
fn memory_shares(manager: Manager) -> &'static [(&'static str, f64)] {
    match manager {
        Manager::Postgresql | Manager::Simulated => &[
            ("shared_buffers", 0.75),
            ("work_mem", 0.25),
            ("maintenance_work_mem", 0.5),
            ("autovacuum_work_mem", 0.5),
            ("temp_buffers", 0.25),
            ("wal_buffers", 0.25),
        ],
        Manager::Mariadb => &[
            ("innodb_buffer_pool_size", 0.75),
            ("innodb_log_buffer_size", 0.25),
            ("aria_pagecache_buffer_size", 0.25),
            ("key_buffer_size", 0.5),
            ("tmp_table_size", 0.5),
            ("max_heap_table_size", 0.5),
            ("bulk_insert_buffer_size", 0.25),
            ("sort_buffer_size", 0.1),
            ("join_buffer_size", 0.1),
            ("read_buffer_size", 0.1),
            ("read_rnd_buffer_size", 0.1),
        ],
        Manager::Redis => &[("maxmemory", 0.9), ("active-defrag-ignore-bytes", 1.0)],
    }
}

/// Bytes per unit of a memory parameter.
fn unit_bytes(unit: Option<&str>) -> f64 {
    match unit {
        Some("8kB") => 8192.0,
        Some("kB") => 1024.0,
        Some("MB") => 1024.0 * 1024.0,
        _ => 1.0,
    }
}

/// Checks a group's memory values against the flavor (`ram_mb`) of an instance it meets (at
/// create, attach, a change of the group, a resize).
pub fn check_memory(
    manager: Manager,
    catalog: &[Parameter],
    values: &BTreeMap<String, Value>,
    ram_mb: i64,
    flavor: &str,
) -> Result<(), ValueError> {
    for (name, share) in memory_shares(manager) {
        let (Some(value), Some(p)) = (values.get(*name), catalog.iter().find(|p| p.name == *name)) else {
            continue;
        };
        let bytes = value.as_f64().unwrap_or(0.0) * unit_bytes(p.unit.as_deref());
        let cap = ram_mb as f64 * 1024.0 * 1024.0 * share;
        if bytes > cap {
            let max = (cap / unit_bytes(p.unit.as_deref())).floor() as i64;
            return Err(ValueError::Refused(format!(
                "The value for the configuration parameter {name} is greater than the maximum allowed for \
                 flavor {flavor} ({ram_mb} MB): {max}"
            )));
        }
    }
    Ok(())
}
