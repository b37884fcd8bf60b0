//! `[cluster]` and `[telemetry]`: how each process shows itself to the others and to operators
//! (its row in the service list, its own `/healthz` and `/metrics`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// How often each process refreshes its row in the service list (and stores its
    /// supervision events).
    #[serde(with = "crate::config::duration::secs")]
    pub report_interval_s: Duration,
    /// A process whose row was not refreshed for this long is shown down.
    #[serde(with = "crate::config::duration::secs")]
    pub down_after_s: Duration,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Where a process that does not serve the API serves `/healthz` and `/metrics`
    /// (e.g. "127.0.0.1:9779"; port 0 picks a free one). Empty: not served.
    pub bind: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            report_interval_s: Duration::from_secs_f64(2.0),
            down_after_s: Duration::from_secs_f64(10.0),
        }
    }
}
