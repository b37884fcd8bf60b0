//! Validation of a loaded configuration: what the types cannot rule out (combinations that
//! cannot work, test-only keys outside tests, ranges).

use super::{Config, ConfigError, GuestHost, Transport};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.compute.guest_host == GuestHost::Process && self.bus.transport != Transport::Amqp {
            return Err(ConfigError::Invalid(
                "[compute] guest_host = \"process\" needs [bus] transport = \"amqp\": guest processes talk over RabbitMQ".into(),
            ));
        }
        if !self.testing.enabled && !self.testing.fail_at.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "[testing] fail_at is set but [testing] enabled is false; fault injection is for tests only".into(),
            ));
        }
        if !self.testing.enabled && self.testing.volume_unit_mb != 1024 {
            return Err(ConfigError::Invalid(
                "[testing] volume_unit_mb is for tests only; set [testing] enabled = true".into(),
            ));
        }
        if self.api.events_kept < 1 {
            return Err(ConfigError::Invalid(
                "[api] events_kept must be at least 1 (the newest event keeps ids from being given twice)".into(),
            ));
        }
        if self.testing.volume_unit_mb < 1 {
            return Err(ConfigError::Invalid("[testing] volume_unit_mb must be positive".into()));
        }
        if self.guest.heartbeat_interval_s.is_zero() || self.guest.heartbeat_expiry_s.is_zero() {
            return Err(ConfigError::Invalid(
                "[guest] heartbeat interval and expiry must be positive".into(),
            ));
        }
        for proxy in &self.api.trusted_proxies {
            parse_proxy(proxy).map_err(|e| ConfigError::Invalid(format!("[api] trusted_proxies: {e}")))?;
        }
        let url = self.api.public_url.trim();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "[api] public_url must start with http:// or https://, not {url:?}"
            )));
        }
        Ok(())
    }
}

/// A trusted proxy: an IP network (`10.0.0.0/8`) or one address (a /32 or /128).
pub fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or CIDR"))
}
