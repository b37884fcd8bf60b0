//! Datastore logs as Trove's guest shows them (`guest_log_list`, `guest_log_action`): each
//! server names its logs ([`LogDef`]: a USER log the user switches on and off, a SYS log always
//! on); publishing copies a log's file to the object store under the instance's prefix, and the
//! volume's `logs.json` remembers what was switched on and how much was published.

use crate::guest::driver_error::DriverError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The object store "container" logs are published to (Trove's `guest_log_container_name`).
pub const CONTAINER: &str = "database_logs";
/// The most of a log published at once (its newest bytes).
pub const PUBLISH_MAX_BYTES: u64 = 64 << 20;

/// A log a datastore server keeps.
#[derive(Debug, Clone)]
pub struct LogDef {
    pub name: &'static str,
    /// A USER log is switched on and off by the user; a SYS log is always on.
    pub user: bool,
    pub file: PathBuf,
}

/// What the API shows of a log (Trove's fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestLog {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub published: u64,
    pub pending: u64,
    pub container: String,
    pub prefix: String,
    pub metafile: String,
}

/// `guest_log_action`'s arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogAction {
    pub log_name: String,
    #[serde(default)]
    pub enable: bool,
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub discard: bool,
}

/// The volume's record of switched-on USER logs and published sizes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LogBook {
    #[serde(default)]
    pub enabled: BTreeMap<String, bool>,
    #[serde(default)]
    pub published: BTreeMap<String, u64>,
}

impl LogBook {
    fn path(dir: &Path) -> PathBuf {
        dir.join("logs.json")
    }

    pub fn read(dir: &Path) -> LogBook {
        std::fs::read_to_string(Self::path(dir))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn write(&self, dir: &Path) -> Result<(), DriverError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| DriverError::failed(format!("logs.json: {e}")))?;
        std::fs::write(Self::path(dir), text).map_err(|e| DriverError::Failed(format!("logs.json: {e}")))
    }

    pub fn is_on(&self, def: &LogDef) -> bool {
        !def.user || self.enabled.get(def.name).copied().unwrap_or(false)
    }
}

/// Where an instance's log `name` is published.
pub fn prefix(instance_id: &str, name: &str) -> String {
    format!("{CONTAINER}/{instance_id}/{name}/")
}

/// A log's view from its definition, the book and the file's size now.
pub fn view(instance_id: &str, def: &LogDef, book: &LogBook) -> GuestLog {
    let size = std::fs::metadata(&def.file).map(|m| m.len()).unwrap_or(0);
    let published = book.published.get(def.name).copied().unwrap_or(0);
    let pending = size.saturating_sub(published);
    let status = match (book.is_on(def), published > 0, pending) {
        (false, _, _) => "Disabled",
        (true, true, 0) => "Published",
        (true, true, _) => "Partial",
        (true, false, _) if def.user => "Enabled",
        (true, false, _) => "Ready",
    };
    let prefix = prefix(instance_id, def.name);
    GuestLog {
        name: def.name.to_string(),
        kind: if def.user { "USER" } else { "SYS" }.to_string(),
        status: status.to_string(),
        published,
        pending,
        container: CONTAINER.to_string(),
        metafile: format!("{}_metafile", prefix.trim_end_matches('/')),
        prefix,
    }
}
