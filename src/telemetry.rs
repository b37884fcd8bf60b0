//! Logging: `tracing` to stderr, human-readable by default or JSON with one switch.

pub mod request;
pub mod supervision;

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` wins over `[log] filter`. lapin's own log is off
/// unless the filter names it: it reports a broker restart, an expected condition, as errors,
/// and coffer logs what the transport tells it (rate-limited) itself.
pub fn init(format: crate::config::LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| match filter.contains("lapin") {
        true => EnvFilter::new(filter),
        false => EnvFilter::new(format!("{filter},lapin=off")),
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never in a file or a pipe.
        .with_ansi(std::io::stderr().is_terminal());
    let result = if format == crate::config::LogFormat::Json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A subscriber installed earlier (tests) stays.
    let _ = result;
}

/// How often one kind of repeated warning is logged at most.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Per kind of warning: when it was last logged, and how many were held back since.
static LIMITED: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<&'static str, (std::time::Instant, u64)>>,
> = std::sync::LazyLock::new(Default::default);

/// Logs a warning of kind `kind` unless one was logged in the last 10 s; the next one logged
/// says how many were held back (a broker outage seen by 2,000 guest consumers is one line
/// every 10 s, not 2,000).
pub fn warn_limited(kind: &'static str, message: &str) {
    let now = std::time::Instant::now();
    let held = {
        let mut limited = LIMITED.lock();
        let entry = limited.entry(kind).or_insert((now - WARN_EVERY, 0));
        if now.duration_since(entry.0) < WARN_EVERY {
            entry.1 += 1;
            return;
        }
        let held = entry.1;
        *entry = (now, 0);
        held
    };
    if held > 0 {
        tracing::warn!(
            warning.kind = kind,
            warning.held_back = held,
            "{message} (and {held} more like it)"
        );
    } else {
        tracing::warn!(warning.kind = kind, "{message}");
    }
}
