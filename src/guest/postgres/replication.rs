//! PostgreSQL physical streaming replication. A replica is `pg_basebackup` of its source over
//! the replication protocol, through a slot the source keeps for it (so the source holds the
//! WAL the replica has yet to take), then a hot standby (`standby.signal`, `primary_conninfo`
//! with a password file in the volume). A switchover stops the source (a fast shutdown sends
//! every WAL record, its shutdown checkpoint last, to the connected standbys) and the candidate
//! is promoted once it has replayed that checkpoint; the old source then starts as a standby of
//! the new one, on the new timeline.

use super::{bin_dir, PgServer, ADMIN};
use crate::guest::driver_error::DriverError;
use crate::guest::process::{Replication, Server};
use crate::guest::replication::{Position, ReplicationStatus, REPLICATION_USER};
use crate::guest::server;
use crate::guest::sql::{quote_conf_literal, quote_literal};
use crate::guest::ServerSettings;
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::time::Duration;

fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

impl PgServer {
    fn passfile(&self) -> PathBuf {
        self.run_dir().join("replication.pass")
    }

    /// The password the standby logs in to its source with, in a file only the server reads.
    fn write_passfile(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        let password = settings
            .replication_password(&self.spec.secrets)
            .ok_or_else(|| DriverError::failed("the replication password cannot be opened"))?;
        server::write_file(
            &self.passfile(),
            &format!(
                "*:*:*:{REPLICATION_USER}:{}\n",
                password.replace('\\', "\\\\").replace(':', "\\:")
            ),
            0o600,
            self.spec.user,
        )
    }

    /// The first `pg_hba.conf` lines. coffer is the admin by the socket's peer (only it and the
    /// server's account may reach the socket), not by a password: a replica's catalog, admin
    /// included, is its source's. Any group member may become the source: replicas log in
    /// with the group's password.
    pub(super) fn admin_and_replication_hba(&self, settings: &ServerSettings) -> Result<Vec<String>, DriverError> {
        let peer = crate::guest::account::own_name().unwrap_or_else(|| "root".into());
        server::write_file(
            &self.data().join("pg_ident.conf"),
            &format!("coffer {peer} {ADMIN}\n"),
            0o600,
            self.spec.user,
        )?;
        let mut hba = vec![
            format!("local all {ADMIN} peer map=coffer"),
            format!("local replication {ADMIN} peer map=coffer"),
        ];
        if settings.replication.is_some() {
            hba.push(format!("host replication {REPLICATION_USER} 0.0.0.0/0 scram-sha-256"));
        }
        Ok(hba)
    }

    /// A group member's settings: how much WAL its slots may hold, and a replica's standby
    /// settings.
    pub(super) fn replication_lines(&self, settings: &ServerSettings) -> Result<Vec<String>, DriverError> {
        if settings.replication.is_none() {
            return Ok(Vec::new());
        }
        // A slot whose replica is gone holds WAL: at most a quarter of the volume.
        let volume_mb = settings
            .volume_limit_mb
            .or(settings.volume_size_gb.map(|gb| gb * 1024))
            .unwrap_or(1024);
        let mut lines = vec![format!("max_slot_wal_keep_size = '{}MB'", (volume_mb / 4).max(64))];
        let fenced = settings.replication.as_ref().is_some_and(|m| m.fenced);
        if fenced && settings.follows().is_none() {
            // A fenced source that follows no one starts as a standby without a source: no
            // session can turn it writable.
            server::write_file(&self.data().join("standby.signal"), "", 0o600, self.spec.user)?;
        }
        lines.extend(self.standby_lines(settings)?);
        Ok(lines)
    }

    /// The standby settings of a replica (none for a source): where it streams from, through
    /// which slot, with the password file beside it.
    fn standby_lines(&self, settings: &ServerSettings) -> Result<Vec<String>, DriverError> {
        let Some(source) = settings.follows() else {
            return Ok(Vec::new());
        };
        self.write_passfile(settings)?;
        server::write_file(&self.data().join("standby.signal"), "", 0o600, self.spec.user)?;
        let conninfo = format!(
            "host={} port={} user={REPLICATION_USER} passfile={} application_name={} connect_timeout=5",
            source.address,
            source.port,
            self.passfile().display(),
            source.slot
        );
        Ok(vec![
            format!("primary_conninfo = {}", quote_conf_literal(&conninfo)),
            format!("primary_slot_name = {}", quote_conf_literal(&source.slot)),
            "hot_standby = on".into(),
            "recovery_target_timeline = 'latest'".into(),
        ])
    }

    /// `pg_basebackup` of the source through the replica's slot, into a directory of its own
    /// that becomes the data directory only when complete (a copy cut short starts over).
    async fn copy_from(&self, source: &crate::guest::SourceAddress) -> Result<(), DriverError> {
        let seed = self.spec.dir.join("seed");
        if seed.exists() {
            std::fs::remove_dir_all(&seed).map_err(DriverError::at(&seed))?;
        }
        server::make_dir(&seed, 0o700, self.spec.user)?;
        let mut copy = server::command(&bin_dir().join("pg_basebackup"), self.spec.user, &self.log())?;
        copy.arg("-D")
            .arg(&seed)
            .args(["-h", &source.address, "-p", &source.port.to_string()])
            .args(["-U", REPLICATION_USER, "-S", &source.slot])
            .args(["-X", "stream", "-c", "fast", "-w"])
            .env("PGPASSFILE", self.passfile());
        server::run(copy, "pg_basebackup", &self.log()).await?;
        let data = self.data();
        std::fs::remove_dir_all(&data).map_err(DriverError::at(&data))?;
        std::fs::rename(&seed, &data).map_err(DriverError::at(&data))
    }

    async fn in_recovery(&self) -> Result<bool, DriverError> {
        let client = self.admin("postgres").await?;
        let row = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(DriverError::query("PostgreSQL"))?;
        Ok(row.get(0))
    }

    /// The slots of a former source, removed while it is down (a standby keeps none of its own).
    fn forget_slots(&self) -> Result<(), DriverError> {
        let dir = self.data().join("pg_replslot");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            std::fs::remove_dir_all(entry.path()).map_err(DriverError::at(&dir))?;
        }
        Ok(())
    }

    /// The last checkpoint of a stopped server (its shutdown checkpoint after a clean stop).
    async fn last_checkpoint(&self) -> Result<u64, DriverError> {
        let (program, data) = (bin_dir().join("pg_controldata"), self.data());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&program)
                .arg("-D")
                .arg(&data)
                .env("LC_ALL", "C")
                .output()
        })
        .await?
        .map_err(DriverError::spawn("pg_controldata"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Latest checkpoint location:"))
            .and_then(super::parse_lsn)
            .ok_or_else(|| DriverError::failed(format!("pg_controldata: {}", String::from_utf8_lossy(&out.stderr))))
    }

    async fn reload(&self) -> Result<(), DriverError> {
        self.exec("postgres", "SELECT pg_reload_conf()").await
    }
}

impl Replication for PgServer {
    fn enable_source(&self, settings: ServerSettings, slots: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let password = settings
                .replication_password(&self.spec.secrets)
                .ok_or_else(|| DriverError::failed("the replication password cannot be opened"))?;
            self.render_config(&settings)?;
            self.reload().await?;
            let client = self.admin("postgres").await?;
            if !self.in_recovery().await? {
                // A standby has the account already: it is its source's catalog.
                let pw = quote_literal(&password);
                let sql = format!(
                    "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{REPLICATION_USER}') THEN \
                     ALTER ROLE {REPLICATION_USER} WITH LOGIN REPLICATION PASSWORD {pw}; ELSE \
                     CREATE ROLE {REPLICATION_USER} WITH LOGIN REPLICATION PASSWORD {pw}; END IF; END $$"
                );
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
            }
            for slot in slots {
                client
                    .execute(
                        "SELECT pg_create_physical_replication_slot($1, true) \
                         WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1)",
                        &[&slot],
                    )
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
            }
            Ok(())
        })
    }

    fn drop_slot(&self, slot: String) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let client = self.admin("postgres").await?;
            for _ in 0..50 {
                // A replica that is still connected holds its slot: its sender is ended first.
                client
                    .execute(
                        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                         WHERE slot_name = $1 AND active",
                        &[&slot],
                    )
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
                let dropped = client
                    .execute(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                         WHERE slot_name = $1 AND NOT active",
                        &[&slot],
                    )
                    .await;
                let left = client
                    .query_opt("SELECT FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
                if dropped.is_ok() && left.is_none() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(DriverError::Failed(format!("the replication slot {slot} stays in use")))
        })
    }

    fn seed(
        &self,
        _request: crate::guest::PrepareRequest,
        settings: ServerSettings,
    ) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let source = settings
                .follows()
                .cloned()
                .ok_or_else(|| DriverError::failed("a replica needs a source"))?;
            self.make_volume_dirs()?;
            if !self.data().join("PG_VERSION").exists() {
                self.write_passfile(&settings)?;
                self.copy_from(&source).await?;
            }
            // The admin's password file of this volume (the admin itself is the source's).
            let password = crate::secrets::random_password(32);
            server::write_sealed(&self.secret(), &password, &self.spec.secrets)?;
            self.render_config(&settings)?;
            self.start_server().await
        })
    }

    fn demote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<Position, DriverError>> {
        Box::pin(async move {
            self.render_config(&settings)?;
            // A fast shutdown ends every session, then waits until the standbys have the
            // shutdown checkpoint: nothing committed stays behind on this server.
            Server::stop(self).await?;
            let at = self.last_checkpoint().await?;
            // A standby has it once it replayed past the checkpoint record's start.
            Ok(Position {
                offset: at + 1,
                text: lsn_text(at),
            })
        })
    }

    fn promote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.render_config(&settings)?;
            self.start_server().await?;
            if self.in_recovery().await? {
                self.exec("postgres", "SELECT pg_promote(true, 60)").await?;
            }
            self.reload().await?;
            let _ = std::fs::remove_file(self.passfile());
            Ok(())
        })
    }

    fn follow(&self, settings: ServerSettings, start: bool) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            if self.running() && !self.in_recovery().await? {
                // A source (one that was not demoted first) stops before it turns standby.
                Server::stop(self).await?;
            }
            self.render_config(&settings)?;
            if self.running() {
                return self.reload().await;
            }
            self.forget_slots()?;
            if start {
                self.start_server().await?;
            }
            Ok(())
        })
    }

    fn status(&self, settings: ServerSettings) -> BoxFuture<'_, Result<ReplicationStatus, DriverError>> {
        Box::pin(async move {
            let client = self.admin("postgres").await?;
            let row = client
                .query_one(
                    "SELECT pg_is_in_recovery(), \
                       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text, \
                       (pg_last_wal_receive_lsn())::text, \
                       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, \
                       EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming'), \
                       current_setting('default_transaction_read_only') = 'on'",
                    &[],
                )
                .await
                .map_err(DriverError::query("PostgreSQL"))?;
            let recovering: bool = row.get(0);
            let at: Option<String> = row.get(1);
            let received: Option<String> = row.get(2);
            let replayed = at.as_deref().and_then(super::parse_lsn).unwrap_or(0);
            let received = received.as_deref().and_then(super::parse_lsn);
            // A promotion replays everything received first: a standby has come that far.
            let offset = received.map_or(replayed, |r| r.max(replayed));
            let read_only: bool = row.get(5);
            Ok(ReplicationStatus {
                role: role(&settings, recovering).into(),
                writable: !recovering && !read_only,
                streaming: row.get(4),
                position: Position {
                    offset,
                    text: lsn_text(offset),
                },
                lag: received.map(|r| r.saturating_sub(replayed)),
                lag_seconds: if recovering { row.get(3) } else { None },
            })
        })
    }
}

/// A member's role as the server and its settings show it.
fn role(settings: &ServerSettings, recovering: bool) -> &'static str {
    match (recovering, &settings.replication) {
        (true, _) => "replica",
        (false, Some(m)) if m.follows.is_none() => "source",
        _ => "standalone",
    }
}
