//! PostgreSQL backups (restore is in [`super::restore`]).
//!
//! A full backup is `pg_basebackup` as one tar stream on standard output (with the WAL it needs,
//! `-X fetch`); its meta is the WAL end point it prints. An incremental backup is the archived
//! WAL from its parent's end point up to a WAL switch made for it (a tar of those segments);
//! its meta is the switch point. The archive is pruned to what live backups can chain on.

use super::{PgServer, ADMIN, PORT};
use crate::guest::backup_stream::{self, DumpSource};
use crate::guest::driver_error::DriverError;
use crate::guest::process::Backups;
use crate::guest::server;
use crate::guest::{BackupJob, BackupOutcome, PrepareRequest, ServerSettings};
use crate::manager::Manager;
use crate::storage::BackupStore;
use futures::future::BoxFuture;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// The WAL segment size (PostgreSQL's default, which initdb keeps).
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Parses an LSN such as `0/3000148`.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The segment number an LSN lies in.
fn segment_of(lsn: u64) -> u64 {
    lsn / SEGMENT_BYTES
}

/// The (timeline, segment number) a WAL file name stands for.
fn parse_wal_name(name: &str) -> Option<(u32, u64)> {
    if name.len() != 24 || !name.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let tli = u32::from_str_radix(&name[0..8], 16).ok()?;
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    Some((tli, log * (0x1_0000_0000 / SEGMENT_BYTES) + seg))
}

/// The names of the files in a WAL archive directory.
fn archive_files(dir: &Path) -> Result<Vec<String>, DriverError> {
    let entries = std::fs::read_dir(dir).map_err(DriverError::at(dir))?;
    entries
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().to_string())
                .map_err(DriverError::at(dir))
        })
        .collect()
}

/// Removes the archived segments before the one holding `keep_lsn` (every timeline); with no
/// position, all but the two newest. Returns how many went.
fn prune_segments(dir: &Path, keep_lsn: Option<u64>) -> Result<usize, DriverError> {
    let mut segments: Vec<(u64, String)> = archive_files(dir)?
        .into_iter()
        .filter_map(|name| parse_wal_name(&name).map(|(_, seg)| (seg, name)))
        .collect();
    segments.sort();
    let keep_seg = match keep_lsn {
        Some(lsn) => segment_of(lsn),
        None => segments.iter().rev().nth(1).map(|s| s.0).unwrap_or(0),
    };
    let mut removed = 0;
    for (_, name) in segments.iter().filter(|(seg, _)| *seg < keep_seg) {
        std::fs::remove_file(dir.join(name)).map_err(|e| DriverError::Failed(format!("{name}: {e}")))?;
        removed += 1;
    }
    Ok(removed)
}

impl PgServer {
    fn archive_dir(&self) -> PathBuf {
        self.spec.dir.join("archive")
    }
    pub(super) fn restore_wal_dir(&self) -> PathBuf {
        self.spec.dir.join("restore_wal")
    }

    async fn backup_stream(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> Result<BackupOutcome, DriverError> {
        match &job.parent_meta {
            None => self.full_backup(job, store, stored).await,
            Some(parent) => {
                let start = parent
                    .get("end_lsn")
                    .and_then(|l| l.as_str())
                    .and_then(parse_lsn)
                    .ok_or_else(|| DriverError::failed("the parent backup has no WAL end point to continue from"))?;
                self.wal_backup(job, store, stored, start).await
            }
        }
    }

    async fn full_backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> Result<BackupOutcome, DriverError> {
        let log = self.spec.dir.join(format!("log/backup-{}.log", job.backup_id));
        let _ = std::fs::remove_file(&log);
        let mut cmd = server::command(&super::bin_dir().join("pg_basebackup"), None, &log)?;
        let password = server::read_sealed(&self.secret(), &self.spec.secrets)?;
        cmd.env("PGPASSWORD", password.trim())
            .arg("-h")
            .arg(self.run_dir())
            .args([
                "-p",
                &PORT.to_string(),
                "-U",
                ADMIN,
                "-D",
                "-",
                "-F",
                "t",
                "-X",
                "fetch",
            ])
            .args(["-c", "fast", "-v", "--no-password"]);
        let key = job.key(Manager::Postgresql.backup_format());
        let source = DumpSource::Command {
            cmd: Box::new(cmd),
            name: "pg_basebackup".into(),
            log: log.clone(),
        };
        let done = backup_stream::upload(&store, &key, source, job.compression_level, stored).await?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let end = text
            .lines()
            .find_map(|l| l.split("write-ahead log end point:").nth(1))
            .map(|l| l.trim().to_string())
            .ok_or_else(|| DriverError::failed("pg_basebackup did not report its WAL end point"))?;
        Ok(BackupOutcome::new(key, done, json!({"end_lsn": end})))
    }

    /// The archived WAL from `start` to a switch made now.
    async fn wal_backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
        start: u64,
    ) -> Result<BackupOutcome, DriverError> {
        let client = self.admin("postgres").await?;
        let row = client
            .query_one(
                "SELECT (pg_switch_wal() - 1)::text, pg_walfile_name(pg_current_wal_lsn() - 1), \
                 (SELECT timeline_id FROM pg_control_checkpoint())",
                &[],
            )
            .await
            .map_err(DriverError::query("PostgreSQL"))?;
        let (last, _, timeline): (String, String, i32) = (row.get(0), row.get(1), row.get(2));
        let last = parse_lsn(&last).ok_or_else(|| DriverError::failed("PostgreSQL returned no WAL position"))?;
        let end = last + 1;
        let (first_seg, last_seg) = (segment_of(start), segment_of(last));
        // Wait until the archiver has every segment up to the switch.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let names = loop {
            let names = self.archived_segments(timeline as u32, first_seg, last_seg)?;
            if names.iter().filter(|n| !n.ends_with(".history")).count() as u64 > last_seg - first_seg {
                break names;
            }
            if std::time::Instant::now() > deadline {
                return Err(DriverError::Failed(format!(
                    "the WAL archive lacks segments {first_seg}..={last_seg}: archiving is behind or broken"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let log = self.spec.dir.join(format!("log/backup-{}.log", job.backup_id));
        let mut cmd = server::command(Path::new("/usr/bin/tar"), None, &log)?;
        cmd.arg("-c").arg("-C").arg(self.archive_dir()).args(&names);
        let key = job.key("wal.tar");
        let source = DumpSource::Command {
            cmd: Box::new(cmd),
            name: "tar (WAL)".into(),
            log,
        };
        let done = backup_stream::upload(&store, &key, source, job.compression_level, stored).await?;
        let end = format!("{:X}/{:X}", end >> 32, end & 0xFFFF_FFFF);
        Ok(BackupOutcome::new(
            key,
            done,
            json!({"end_lsn": end, "timeline": timeline}),
        ))
    }

    /// Removes archived segments before the one holding `keep_from` (every timeline); with no
    /// position, all but the two newest segments.
    async fn prune_archive(&self, keep_from: Option<String>) -> Result<(), DriverError> {
        let keep_lsn = match keep_from.as_deref().map(parse_lsn) {
            Some(Some(lsn)) => Some(lsn),
            Some(None) => return Err(DriverError::failed("retain_logs: not a WAL position")),
            None => None,
        };
        let dir = self.archive_dir();
        // Listing and unlinking many segment files: off the actor's thread.
        let removed = tokio::task::spawn_blocking(move || prune_segments(&dir, keep_lsn)).await??;
        if removed > 0 {
            tracing::info!(volume = %self.spec.dir.display(), segments.removed = removed, "WAL archive pruned");
        }
        Ok(())
    }

    /// The names of the files in the WAL archive.
    fn archive_files(&self) -> Result<Vec<String>, DriverError> {
        archive_files(&self.archive_dir())
    }

    /// Archived segment files of `timeline` numbered `first..=last`, plus timeline histories.
    fn archived_segments(&self, timeline: u32, first: u64, last: u64) -> Result<Vec<String>, DriverError> {
        let mut names = Vec::new();
        for name in self.archive_files()? {
            let wanted = match parse_wal_name(&name) {
                Some((tli, seg)) => tli == timeline && (first..=last).contains(&seg),
                None => name.ends_with(".history"),
            };
            if wanted {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

impl Backups for PgServer {
    fn backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> BoxFuture<'_, Result<BackupOutcome, DriverError>> {
        Box::pin(self.backup_stream(job, store, stored))
    }

    fn restore(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.restore_chain(request, settings, store))
    }

    fn retain_logs(&self, keep_from: Option<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.prune_archive(keep_from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_and_wal_names_map_to_segments() {
        assert_eq!(parse_lsn("0/3000148"), Some(0x3000148));
        assert_eq!(segment_of(0x3000148), 3);
        assert_eq!(parse_wal_name("000000010000000000000003"), Some((1, 3)));
        assert_eq!(parse_wal_name("000000020000000100000002"), Some((2, 256 + 2)));
        assert_eq!(parse_wal_name("00000002.history"), None);
    }
}
