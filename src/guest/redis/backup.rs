//! Redis backups and restore: a backup is an RDB snapshot (`BGSAVE`, then the `dump.rdb` it
//! wrote, streamed); a restore puts the RDB into the new volume and makes the first start with
//! AOF off, so that Redis loads it, then turns AOF on (which rewrites the AOF from memory).

use super::RedisServer;
use crate::guest::backup_stream::{self, DumpSource, Unpack};
use crate::guest::driver_error::DriverError;
use crate::guest::process::Backups;
use crate::guest::{BackupJob, BackupOutcome, PrepareRequest, ServerSettings};
use crate::manager::Manager;
use crate::storage::BackupStore;
use futures::future::BoxFuture;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// One field of `INFO persistence`.
fn info_field(info: &str, key: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

impl RedisServer {
    async fn persistence(&self, conn: &mut redis::aio::MultiplexedConnection) -> Result<String, DriverError> {
        redis::cmd("INFO")
            .arg("persistence")
            .query_async::<String>(conn)
            .await
            .map_err(DriverError::query("Redis"))
    }

    /// Waits until one `INFO persistence` snapshot satisfies `done`.
    async fn wait_until(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, DriverError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(3600);
        loop {
            let info = self.persistence(conn).await?;
            if done(&info) {
                return Ok(info);
            }
            if std::time::Instant::now() > deadline {
                return Err(DriverError::failed(
                    "Redis: the append-only file was not rewritten within an hour",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn snapshot(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> Result<BackupOutcome, DriverError> {
        if job.parent_meta.is_some() {
            return Err(DriverError::failed("Redis has no incremental backups: take a full one"));
        }
        let mut conn = self.admin().await?;
        let saves = |info: &str| {
            info_field(info, "rdb_saves")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let before = saves(&self.persistence(&mut conn).await?);
        let asked_at = chrono::Utc::now().timestamp();
        redis::cmd("BGSAVE")
            .arg("SCHEDULE")
            .query_async::<String>(&mut conn)
            .await
            .map_err(DriverError::query("Redis"))?;
        // Done when a snapshot newer than the request has ended (a scheduled one waits for an
        // AOF rewrite in progress to end first).
        let deadline = std::time::Instant::now() + Duration::from_secs(3600);
        loop {
            let info = self.persistence(&mut conn).await?;
            let saved_at = info_field(&info, "rdb_last_save_time")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            let idle = info_field(&info, "rdb_bgsave_in_progress").as_deref() == Some("0");
            if idle && saves(&info) > before && saved_at >= asked_at {
                if info_field(&info, "rdb_last_bgsave_status").as_deref() != Some("ok") {
                    return Err(DriverError::failed("Redis: the RDB snapshot failed"));
                }
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(DriverError::failed("Redis: no RDB snapshot was made within an hour"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let key = job.key(Manager::Redis.backup_format());
        let source = DumpSource::File(self.path("data/dump.rdb"));
        let done = backup_stream::upload(&store, &key, source, job.compression_level, stored).await?;
        Ok(BackupOutcome::new(key, done, serde_json::json!({})))
    }

    async fn restore_rdb(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> Result<(), DriverError> {
        self.make_volume(&request)?;
        let piece = request
            .restore
            .last()
            .ok_or_else(|| DriverError::failed("nothing to restore"))?;
        let rdb = self.path("data/dump.rdb");
        // A restore that died part-way: stop what it started, and load the RDB again unless it
        // was completely in place (it is renamed there only once whole).
        crate::guest::process::Server::stop(self).await?;
        if !rdb.exists() {
            let (packed, partial) = (self.path("restore.zst"), self.path("data/restore.rdb.partial"));
            backup_stream::fetch_verified(&store, &piece.object_key, &piece.checksum, &packed).await?;
            let unpacked = backup_stream::unpack(
                &packed,
                Unpack::File {
                    path: partial.clone(),
                    user: self.spec.user,
                },
            )
            .await;
            let _ = std::fs::remove_file(&packed);
            unpacked?;
            std::fs::rename(&partial, &rdb).map_err(DriverError::at(&rdb))?;
        }
        // An AOF left by an interrupted start would be loaded instead of the RDB.
        let _ = std::fs::remove_dir_all(self.path("data/appendonlydir"));
        self.render_config_with(&settings, false)?;
        self.start_rendered().await?;
        let mut conn = self.admin().await?;
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("yes")
            .query_async::<()>(&mut conn)
            .await
            .map_err(DriverError::query("Redis"))?;
        // The AOF holds the data only once its rewrite has run and succeeded.
        self.wait_until(&mut conn, |info| {
            info_field(info, "aof_rewrite_in_progress").as_deref() == Some("0")
                && info_field(info, "aof_rewrite_scheduled").as_deref() == Some("0")
                && info_field(info, "aof_enabled").as_deref() == Some("1")
                && info_field(info, "aof_last_bgrewrite_status").as_deref() == Some("ok")
        })
        .await?;
        self.render_config_with(&settings, true)?;
        Ok(())
    }
}

impl Backups for RedisServer {
    fn backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> BoxFuture<'_, Result<BackupOutcome, DriverError>> {
        Box::pin(self.snapshot(job, store, stored))
    }

    fn restore(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.restore_rdb(request, settings, store))
    }
}
