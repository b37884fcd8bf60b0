//! MariaDB backups and restore with `mariadb-backup` (Debian's package of the same name).
//!
//! A backup streams `mariadb-backup --backup --stream=xbstream`; an incremental one adds
//! `--incremental-lsn` with its parent's `to_lsn`, and every backup's meta is its own `to_lsn`
//! (read from `--extra-lsndir`). A restore unpacks each backup of the chain with `mbstream`,
//! prepares the full one and applies the incrementals in order, moves the result into the data
//! directory, and makes the first start with an init file that gives the admin this instance's
//! own password.

use super::{MariaServer, ADMIN};
use crate::guest::backup_stream::{self, DumpSource, Unpack};
use crate::guest::driver_error::DriverError;
use crate::guest::process::Backups;
use crate::guest::server;
use crate::guest::sql::quote_mysql_literal as literal;
use crate::guest::{BackupJob, BackupOutcome, PrepareRequest, ServerSettings};
use crate::manager::Manager;
use crate::storage::BackupStore;
use futures::future::BoxFuture;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const MARIADB_BACKUP: &str = "/usr/bin/mariadb-backup";
const MBSTREAM: &str = "/usr/bin/mbstream";

impl MariaServer {
    /// A 0600 option file for mariadb-backup: the server's options plus the admin's login.
    fn backup_options(&self, scratch: &Path) -> Result<PathBuf, DriverError> {
        let password = server::read_sealed(&self.path("admin.secret"), &self.spec.secrets)?;
        let server_conf =
            std::fs::read_to_string(self.path("my.cnf")).map_err(|e| DriverError::Failed(format!("my.cnf: {e}")))?;
        let text = format!(
            "{server_conf}\n[mariadb-backup]\nuser = {ADMIN}\npassword = {}\nsocket = {}\n",
            password.trim(),
            self.path("run/mysqld.sock").display()
        );
        let file = scratch.join("backup.cnf");
        server::write_file(&file, &text, 0o600, None)?;
        Ok(file)
    }

    async fn stream_backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> Result<BackupOutcome, DriverError> {
        let scratch = self.path(&format!("tmp/backup-{}-{}", job.backup_id, job.attempt));
        let _ = std::fs::remove_dir_all(&scratch);
        server::make_dir(&scratch, 0o700, None)?;
        let result = self.stream_backup_in(&job, store, stored, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    async fn stream_backup_in(
        &self,
        job: &BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
        scratch: &Path,
    ) -> Result<BackupOutcome, DriverError> {
        let options = self.backup_options(scratch)?;
        let log = self.path(&format!("log/backup-{}.log", job.backup_id));
        let mut cmd = server::command(Path::new(MARIADB_BACKUP), None, &log)?;
        cmd.arg(format!("--defaults-file={}", options.display()))
            .args(["--backup", "--stream=xbstream"])
            .arg(format!("--target-dir={}", scratch.join("target").display()))
            .arg(format!("--extra-lsndir={}", scratch.join("lsn").display()));
        if let Some(parent) = &job.parent_meta {
            let lsn = parent
                .get("to_lsn")
                .and_then(|l| l.as_str())
                .ok_or_else(|| DriverError::failed("the parent backup has no to_lsn to continue from"))?;
            cmd.arg(format!("--incremental-lsn={lsn}"));
        }
        let key = job.key(Manager::Mariadb.backup_format());
        let source = DumpSource::Command {
            cmd: Box::new(cmd),
            name: "mariadb-backup".into(),
            log,
        };
        let done = backup_stream::upload(&store, &key, source, job.compression_level, stored).await?;
        let checkpoints = std::fs::read_to_string(scratch.join("lsn/xtrabackup_checkpoints"))
            .map_err(|e| DriverError::Failed(format!("mariadb-backup left no checkpoints: {e}")))?;
        let to_lsn = checkpoints
            .lines()
            .find_map(|l| l.strip_prefix("to_lsn = "))
            .map(|l| l.trim().to_string())
            .ok_or_else(|| DriverError::failed("mariadb-backup reported no to_lsn"))?;
        Ok(BackupOutcome::new(key, done, json!({"to_lsn": to_lsn})))
    }

    /// Runs mariadb-backup (as coffer) with `args`.
    async fn mariadb_backup(&self, args: Vec<String>) -> Result<(), DriverError> {
        let log = self.path("log/commands.log");
        let mut cmd = server::command(Path::new(MARIADB_BACKUP), None, &log)?;
        cmd.args(&args);
        server::run(cmd, "mariadb-backup", &log).await
    }

    async fn restore_chain(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> Result<(), DriverError> {
        self.make_volume_dirs()?;
        // Marked done once the data directory is complete; a restore that died before is
        // started again from scratch (and a server it had started is stopped first).
        let unpacked = self.path(".restore-unpacked");
        crate::guest::process::Server::stop(self).await?;
        if !unpacked.exists() {
            let stage = self.path("tmp/restore");
            let _ = std::fs::remove_dir_all(&stage);
            let mut dirs = Vec::new();
            for (i, piece) in request.restore.iter().enumerate() {
                let dir = stage.join(i.to_string());
                server::make_dir(&dir, 0o700, None)?;
                let packed = stage.join(format!("{i}.zst"));
                backup_stream::fetch_verified(&store, &piece.object_key, &piece.checksum, &packed).await?;
                let log = self.path("log/commands.log");
                let mut cmd = server::command(Path::new(MBSTREAM), None, &log)?;
                cmd.arg("-x").arg("-C").arg(&dir);
                let unpacked = backup_stream::unpack(
                    &packed,
                    Unpack::Command {
                        cmd: Box::new(cmd),
                        name: "mbstream".into(),
                        log,
                    },
                )
                .await;
                let _ = std::fs::remove_file(&packed);
                unpacked?;
                dirs.push(dir);
            }
            let full = dirs
                .first()
                .ok_or_else(|| DriverError::failed("nothing to restore"))?
                .display()
                .to_string();
            self.mariadb_backup(vec!["--prepare".into(), format!("--target-dir={full}")])
                .await?;
            for inc in &dirs[1..] {
                self.mariadb_backup(vec![
                    "--prepare".into(),
                    format!("--target-dir={full}"),
                    format!("--incremental-dir={}", inc.display()),
                ])
                .await?;
            }
            let data = self.path("data");
            let _ = std::fs::remove_dir_all(&data);
            self.mariadb_backup(vec![
                "--move-back".into(),
                format!("--target-dir={full}"),
                format!("--datadir={}", data.display()),
            ])
            .await?;
            if let Some(u) = self.spec.user {
                let log = self.path("log/commands.log");
                let mut chown = server::command(Path::new("/usr/bin/chown"), None, &log)?;
                chown.arg("-R").arg(format!("{}:{}", u.uid, u.gid)).arg(&data);
                server::run(chown, "chown", &log).await?;
            }
            server::write_mode_owner(&data, 0o700, self.spec.user)?;
            let _ = std::fs::remove_dir_all(&stage);
            server::write_file(&unpacked, "", 0o600, None)?;
        }
        let password = crate::secrets::random_password(32);
        let init = format!(
            "ALTER USER '{ADMIN}'@'localhost' IDENTIFIED BY {pw};\nFLUSH PRIVILEGES;\n",
            pw = literal(&password)
        );
        let init_file = self.path("run/init.sql");
        server::write_file(&init_file, &init, 0o600, self.spec.user)?;
        server::write_sealed(&self.path("admin.secret"), &password, &self.spec.secrets)?;
        self.start_server(&settings, Some(&init_file)).await?;
        let _ = std::fs::remove_file(&init_file);
        self.render_config(&settings, None)?;
        Ok(())
    }
}

impl Backups for MariaServer {
    fn backup(
        &self,
        job: BackupJob,
        store: BackupStore,
        stored: Arc<AtomicU64>,
    ) -> BoxFuture<'_, Result<BackupOutcome, DriverError>> {
        Box::pin(self.stream_backup(job, store, stored))
    }

    fn restore(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.restore_chain(request, settings, store))
    }
}
