//! Logging: `tracing` to stderr, human-readable by default or JSON with one switch.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` wins over `[log] filter`.
pub fn init(format: &str, filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A subscriber installed earlier (tests) stays.
    let _ = result;
}
