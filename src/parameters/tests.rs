use super::*;
use serde_json::json;

fn values(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn every_snapshot_parses_offers_forty_and_keeps_coffers_own() {
    for manager in [Manager::Postgresql, Manager::Mariadb, Manager::Redis] {
        let catalog = builtin(manager);
        assert!(catalog.len() >= 40, "{manager}: {} parameters", catalog.len());
        assert!(
            catalog.iter().any(|p| p.restart_required),
            "{manager}: some need a restart"
        );
        assert!(
            catalog.iter().any(|p| !p.restart_required),
            "{manager}: some are dynamic"
        );
        for p in &catalog {
            assert!(!denied(manager, &p.name), "{manager} offers {}", p.name);
            assert_eq!(
                canonical(manager, &p.name),
                p.name,
                "{manager}: {} is canonical",
                p.name
            );
            if let Some(pattern) = &p.pattern {
                assert!(regex::Regex::new(pattern).is_ok(), "{}: {pattern}", p.name);
            }
        }
    }
    let text = include_str!("builtin/postgresql.json");
    let raw: Value = serde_json::from_str(text).expect("postgresql.json parses");
    assert_eq!(
        raw["parameters"].as_array().map(Vec::len),
        Some(builtin(Manager::Postgresql).len())
    );
}

#[test]
fn what_coffer_manages_is_denied() {
    for (manager, names) in [
        (
            Manager::Postgresql,
            &[
                "port",
                "listen_addresses",
                "data_directory",
                "archive_command",
                "ssl_key_file",
                "shared_preload_libraries",
                "dynamic_library_path",
                "log_directory",
                "PORT",
                "pg_stat.x",
            ][..],
        ),
        (
            Manager::Mariadb,
            &[
                "port",
                "datadir",
                "plugin_dir",
                "init_file",
                "secure_file_priv",
                "general_log_file",
                "bind-address",
                "log_bin",
                "skip_networking",
            ][..],
        ),
        (
            Manager::Redis,
            &[
                "dir",
                "dbfilename",
                "logfile",
                "loadmodule",
                "port",
                "bind",
                "requirepass",
                "proc-title-template",
                "tls-port",
                "appendonly",
            ][..],
        ),
    ] {
        for name in names {
            assert!(denied(manager, name), "{manager} {name}");
        }
    }
    assert!(!denied(Manager::Postgresql, "statement_timeout"));
    assert!(!denied(Manager::Mariadb, "max_connections"));
    assert!(!denied(Manager::Redis, "maxmemory"));
}

#[test]
fn values_are_checked_as_trove_does() {
    let catalog = builtin(Manager::Postgresql);
    let check = |v: Value| validate(Manager::Postgresql, "postgresql 15", &catalog, &values(v));
    let ok = check(json!({"statement_timeout": 1234, "jit": false, "Work_Mem": 4096})).expect("valid");
    assert_eq!(ok["work_mem"], json!(4096), "keys are canonical");
    let refused = |v: Value, code: u16, needle: &str| {
        let e = check(v.clone()).expect_err("refused");
        let status = match e {
            ValueError::Malformed(_) => 400,
            ValueError::Refused(_) => 422,
        };
        assert_eq!(status, code, "{v}: {e}");
        assert!(e.to_string().contains(needle), "{v}: {e}");
    };
    refused(json!({"no_such_thing": 1}), 422, "no_such_thing is not supported");
    refused(json!({"port": 5433}), 422, "port is not supported");
    refused(json!({"data_directory": "/"}), 422, "data_directory is not supported");
    refused(json!({"statement_timeout": "1s"}), 422, "not of type integer");
    refused(json!({"statement_timeout": true}), 422, "not of type integer");
    refused(json!({"statement_timeout": 1.5}), 422, "not of type integer");
    refused(
        json!({"statement_timeout": -1}),
        422,
        "less than the minimum allowed: 0",
    );
    refused(
        json!({"max_connections": 100000000}),
        422,
        "greater than the maximum allowed",
    );
    refused(json!({"jit": "on"}), 422, "not of type boolean");
    refused(json!({"plan_cache_mode": "sometimes"}), 422, "not one of");
    refused(json!({"statement_timeout": null}), 422, "not of type integer");
    refused(json!({"work_mem": 4096, "WORK_MEM": 4096}), 400, "more than once");
    let spelled = check(json!({"plan_cache_mode": "AUTO"})).expect("enum, any case");
    assert_eq!(
        spelled["plan_cache_mode"],
        json!("auto"),
        "stored as the server spells it"
    );
    let none = validate(Manager::Postgresql, "x", &[], &values(json!({"a": 1}))).expect_err("no catalog");
    assert!(none.to_string().contains("not supported for this datastore"), "{none}");
}
