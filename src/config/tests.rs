//! The loader's tests: the shipped file, environment overrides, refusals.

use super::*;

#[test]
fn shipped_config_parses_and_every_section_takes_an_env_override() {
    let shipped = include_str!("../../config.toml");
    let vars = [
        ("COFFER_API_BIND", "127.0.0.1:9999"),
        ("COFFER_DATABASE_POOL_SIZE", "3"),
        ("COFFER_BUS_CONTROL_EXCHANGE", "other"),
        ("COFFER_GUEST_HEARTBEAT_INTERVAL_S", "2"),
        ("COFFER_TASKMANAGER_NODE_ID", "7"),
        ("COFFER_CONDUCTOR_BATCH_MAX", "10"),
        ("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "5"),
        ("COFFER_AUTH_MODE", "noauth"),
        ("COFFER_SECRETS_MASTER_KEY_FILE", "/tmp/k"),
        ("COFFER_QUOTA_INSTANCES", "5"),
        ("COFFER_LOG_FORMAT", "json"),
        ("COFFER_TESTING_ENABLED", "true"),
        ("UNRELATED", "x"),
    ];
    let config = Config::from_toml_and_env(shipped, vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .expect("shipped config.toml with overrides");
    assert_eq!(config.api.bind, "127.0.0.1:9999");
    assert_eq!(config.database.pool_size, 3);
    assert_eq!(config.bus.control_exchange, "other");
    assert_eq!(config.guest.heartbeat_interval_s, Duration::from_secs(2));
    assert_eq!(config.taskmanager.node_id, "7");
    assert_eq!(config.conductor.batch_max, 10);
    assert_eq!(config.compute.simulated_prepare_ms, Duration::from_millis(5));
    assert_eq!(config.auth.mode, AuthMode::Noauth);
    assert_eq!(config.secrets.master_key_file, "/tmp/k");
    assert_eq!(config.quota.instances, 5);
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(config.testing.enabled);
}

#[test]
fn shipped_config_documents_the_defaults() {
    let shipped: Config = toml::from_str(include_str!("../../config.toml")).expect("parse");
    let defaults = Config::default();
    assert_eq!(
        toml::Value::try_from(&shipped).expect("ser"),
        toml::Value::try_from(&defaults).expect("ser"),
        "config.toml must state every default as it is"
    );
}

#[test]
fn stray_environment_variables_are_set_aside_not_fatal() {
    let vars = [
        ("COFFER_CWD", "/srv"),
        ("COFFER_NOPE_KEY", "1"),
        ("COFFER_DATABASE_POOL_SIZE", "3"),
    ];
    let config = Config::from_toml_and_env("", vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .expect("stray COFFER_* variables are not fatal");
    assert_eq!(config.unknown_env, ["COFFER_CWD", "COFFER_NOPE_KEY"]);
    assert_eq!(config.database.pool_size, 3, "known ones still apply");
}

#[test]
fn bad_overrides_are_refused_with_a_clear_message() {
    let err = Config::from_toml_and_env("", [("COFFER_DATABASE_POOL_SIZE".into(), "many".into())].into_iter())
        .expect_err("must refuse");
    assert!(err.to_string().contains("integer"), "{err}");
    let err = Config::from_toml_and_env("[database]\npool_sise = 3\n", std::iter::empty())
        .expect_err("an unknown key in a file is refused");
    assert!(err.to_string().contains("pool_sise"), "{err}");
    let err = Config::from_toml_and_env("[testing]\nfail_at = \"create:1:panic\"\n", std::iter::empty())
        .expect_err("fault injection without testing.enabled");
    assert!(err.to_string().contains("enabled"), "{err}");
}
