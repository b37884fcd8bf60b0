//! `[backup]`: where backups are stored, how an attempt is retried, and how often schedules
//! are looked at.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// "local" (a directory) or "s3" (any S3-compatible endpoint).
    pub store: String,
    /// The local store's directory. Empty: `/var/lib/coffer/backups` as root, else
    /// `coffer-data/backups`.
    pub local_dir: String,
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    /// zstd level of the stored stream.
    pub compression_level: i32,
    /// How many attempts a backup gets before it is FAILED.
    pub max_attempts: i32,
    /// An attempt that reports no progress for this long is taken as lost (its guest died).
    #[serde(with = "crate::config::duration::secs")]
    pub progress_timeout_s: Duration,
    /// How often a running backup reports its progress.
    #[serde(with = "crate::config::duration::secs")]
    pub progress_interval_s: Duration,
    /// How long a backup may take in all, attempts included.
    #[serde(with = "crate::config::duration::secs")]
    pub timeout_s: Duration,
    /// How long a restore may take (Trove's restore_usage_timeout).
    #[serde(with = "crate::config::duration::secs")]
    pub restore_timeout_s: Duration,
    /// How often the scheduler looks for due runs.
    #[serde(with = "crate::config::duration::secs")]
    pub scheduler_tick_s: Duration,
    /// The shortest interval a schedule may ask for.
    #[serde(with = "crate::config::duration::whole_secs")]
    pub min_interval_s: Duration,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            store: "local".into(),
            local_dir: String::new(),
            s3_endpoint: String::new(),
            s3_bucket: "database_backups".into(),
            s3_region: "us-east-1".into(),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            compression_level: 3,
            max_attempts: 3,
            progress_timeout_s: Duration::from_secs_f64(300.0),
            progress_interval_s: Duration::from_secs_f64(5.0),
            timeout_s: Duration::from_secs_f64(86400.0),
            restore_timeout_s: Duration::from_secs_f64(3600.0),
            scheduler_tick_s: Duration::from_secs_f64(10.0),
            min_interval_s: Duration::from_secs(3600),
        }
    }
}

impl BackupConfig {
    /// The local store's directory (see `local_dir`).
    pub fn local_dir(&self) -> PathBuf {
        if !self.local_dir.is_empty() {
            return PathBuf::from(&self.local_dir);
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            PathBuf::from("/var/lib/coffer/backups")
        } else {
            PathBuf::from("coffer-data/backups")
        }
    }
}
