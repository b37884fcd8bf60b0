//! The built-in defaults: what coffer does with no configuration file (the shipped
//! `config.toml` states the same values, which a test checks).

use super::*;
use std::time::Duration;

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8779".into(),
            workers: 2,
            page_size: 20,
            show_guest_timeout_ms: Duration::from_millis(2000),
            shutdown_timeout_s: Duration::from_secs(5),
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            events_poll_ms: Duration::from_millis(250),
            events_kept: 100_000,
            events_keepalive_ms: Duration::from_millis(15_000),
            events_max_streams: 2000,
            events_max_streams_per_project: 50,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://coffer-data/coffer.db".into(),
            pool_size: 8,
            internal_pool_size: 4,
            acquire_timeout_ms: Duration::from_millis(5000),
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            transport: Transport::Memory,
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            control_exchange: "trove".into(),
            sign_guest_messages: true,
            queue_capacity: 65536,
            prefetch: 64,
        }
    }
}

impl Default for GuestConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_s: Duration::from_secs_f64(30.0),
            heartbeat_expiry_s: Duration::from_secs_f64(90.0),
            call_low_timeout_s: Duration::from_secs_f64(15.0),
            call_high_timeout_s: Duration::from_secs_f64(180.0),
            message_ttl_s: Duration::from_secs_f64(900.0),
        }
    }
}

impl Default for TaskManagerConfig {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            lease_s: Duration::from_secs_f64(30.0),
            scan_interval_s: Duration::from_secs_f64(5.0),
            usage_timeout_s: Duration::from_secs_f64(1800.0),
            delete_timeout_s: Duration::from_secs_f64(60.0),
            restart_timeout_s: Duration::from_secs_f64(180.0),
            resize_timeout_s: Duration::from_secs_f64(900.0),
            poll_interval_ms: Duration::from_millis(2000),
            retry_backoff_ms: Duration::from_millis(200),
        }
    }
}

impl Default for ConductorConfig {
    fn default() -> Self {
        Self {
            batch_max: 2048,
            batch_linger_ms: Duration::from_secs_f64(2.0 / 1000.0),
            expiry_sweep_interval_s: Duration::from_secs_f64(5.0),
        }
    }
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            data_dir: String::new(),
            address_pool: "127.77.0.0/16".into(),
            simulated_prepare_ms: Duration::from_millis(500),
            guest_host: GuestHost::InProcess,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Keystone,
            token_ttl_s: Duration::from_secs_f64(3600.0),
            region: "RegionOne".into(),
            admin_password: String::new(),
            admin_password_file: "coffer-data/admin-password".into(),
            max_failed_logins: 10,
            failed_login_window_s: Duration::from_secs_f64(60.0),
            password_check_slots: 0,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            master_key_file: "coffer-data/master.key".into(),
            wait_for_key_s: Duration::from_secs_f64(60.0),
        }
    }
}

impl Default for TestingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            fail_at: String::new(),
            volume_unit_mb: 1024,
        }
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            instances: 10,
            ram: -1,
            volumes: 40,
            backups: 50,
        }
    }
}
