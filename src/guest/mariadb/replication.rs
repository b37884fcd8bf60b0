//! MariaDB GTID replication. Every member of a group writes a binary log (`log_bin`,
//! `log_slave_updates`, `gtid_strict_mode`, its own `server_id`), so any of them can become the
//! source. A replica is seeded with a consistent `mariadb-dump` of its source
//! (`--single-transaction --gtid --master-data`) taken over the network as `coffer_repl`, loaded
//! without writing its own binary log, then follows with `CHANGE MASTER TO … MASTER_USE_GTID =
//! slave_pos` and `read_only = ON`. The group shares one admin password (the dump carries the
//! accounts), handed over by the source's `enable_as_master`.
//!
//! A demoted source turns `read_only` on (which waits for commits in flight), so its
//! `gtid_current_pos` is final; a candidate has everything once its own position reaches it.

use super::{MariaServer, ADMIN};
use crate::guest::driver_error::DriverError;
use crate::guest::process::{Replication, Server};
use crate::guest::replication::{Position, ReplicationStatus, REPLICATION_USER};
use crate::guest::server;
use crate::guest::sql::quote_mysql_literal as literal;
use crate::guest::{PrepareRequest, ServerSettings, SourceAddress};
use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};

/// What `coffer_repl` may do: stream the binary log, and read everything for a replica's seed.
const REPLICATION_GRANTS: &str = "SELECT, RELOAD, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER, SHOW DATABASES, \
     REPLICATION SLAVE, BINLOG MONITOR";

/// Whether the server must refuse writes: a full volume, a fenced source, or a replica.
pub(super) fn read_only(settings: &ServerSettings) -> bool {
    settings.refuses_writes() || settings.follows().is_some()
}

/// A GTID list (`0-1-42,1-2-7`) as one number that only grows: the sum of its sequence numbers
/// (a group writes each domain's transactions in one order, `gtid_strict_mode`).
fn gtid_offset(gtids: &str) -> u64 {
    gtids
        .split(',')
        .filter_map(|g| g.trim().rsplit('-').next()?.parse::<u64>().ok())
        .fold(0, u64::saturating_add)
}

fn password(server: &MariaServer, settings: &ServerSettings) -> Result<String, DriverError> {
    settings
        .replication_password(&server.spec.secrets)
        .ok_or_else(|| DriverError::failed("the replication password cannot be opened"))
}

/// A 0600 client option file (`[client]` with `lines`).
fn option_file(path: &Path, lines: &[String]) -> Result<(), DriverError> {
    server::write_file(path, &format!("[client]\n{}\n", lines.join("\n")), 0o600, None)
}

impl MariaServer {
    /// The binary log and identity every group member has.
    pub(super) fn replication_lines(&self, settings: &ServerSettings) -> Vec<String> {
        if settings.replication.is_none() {
            return Vec::new();
        }
        vec![
            // Unique in the group: the member's own address.
            format!("server_id = {}", u32::from(self.spec.address).max(1)),
            "log_bin = mariadb-bin".into(),
            "relay_log = mariadb-relay".into(),
            "binlog_format = ROW".into(),
            "log_slave_updates = ON".into(),
            "gtid_strict_mode = ON".into(),
            "binlog_expire_logs_seconds = 172800".into(),
        ]
    }

    async fn query_one(&self, sql: &str) -> Result<Option<mysql_async::Row>, DriverError> {
        let mut conn = self.admin().await?;
        let row = conn.query_first(sql).await.map_err(DriverError::query("MariaDB"));
        let _ = conn.disconnect().await;
        row
    }

    async fn is_replica(&self) -> Result<bool, DriverError> {
        Ok(self.query_one("SHOW SLAVE STATUS").await?.is_some())
    }

    /// Follows `source` from the server's own position: a former source first takes what it
    /// wrote itself as what it has applied.
    async fn change_master(&self, source: &SourceAddress, password: &str) -> Result<(), DriverError> {
        let was_replica = self.is_replica().await?;
        self.exec("STOP SLAVE").await?;
        if !was_replica {
            self.exec("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos").await?;
        }
        self.exec(&format!(
            "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, MASTER_PASSWORD = {}, \
             MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
            literal(&source.address),
            source.port,
            literal(REPLICATION_USER),
            literal(password)
        ))
        .await?;
        self.exec("START SLAVE").await
    }

    /// Ends every client's session (coffer's own and the replicas' stay): with `read_only` on,
    /// nothing written before is still on its way to a commit.
    async fn end_client_sessions(&self) -> Result<(), DriverError> {
        let mut conn = self.admin().await?;
        let ids: Vec<u64> = conn
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                 AND USER NOT IN (?, ?, 'system user', 'event_scheduler', '')",
                (ADMIN, REPLICATION_USER),
            )
            .await
            .map_err(DriverError::query("MariaDB"))?;
        for id in ids {
            // A session that ended meanwhile is no error.
            let _ = conn.query_drop(format!("KILL CONNECTION {id}")).await;
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    fn seed_dir(&self) -> PathBuf {
        self.path("tmp/seed")
    }

    /// Dumps the source into the seed directory: the dump file and the GTID it is at.
    async fn dump_source(&self, source: &SourceAddress, password: &str) -> Result<(PathBuf, String), DriverError> {
        let dir = self.seed_dir();
        let _ = std::fs::remove_dir_all(&dir);
        server::make_dir(&dir, 0o700, None)?;
        let options = dir.join("source.cnf");
        option_file(
            &options,
            &[
                format!("user = {REPLICATION_USER}"),
                format!("password = \"{password}\""),
                format!("host = {}", source.address),
                format!("port = {}", source.port),
            ],
        )?;
        let dump = dir.join("seed.sql");
        let log = self.path("log/commands.log");
        let mut cmd = server::command(Path::new("/usr/bin/mariadb-dump"), None, &log)?;
        cmd.arg(format!("--defaults-file={}", options.display()))
            .args(["--all-databases", "--single-transaction", "--gtid", "--master-data=2"])
            .args(["--routines", "--events", "--triggers", "--flush-privileges"])
            .arg(format!("--result-file={}", dump.display()));
        server::run(cmd, "mariadb-dump", &log).await?;
        let text = std::fs::read_to_string(&dump).map_err(DriverError::at(&dump))?;
        // The position is printed at the end of the dump (after the data it goes with).
        let gtid = text
            .lines()
            .rev()
            .take(100)
            .find_map(|l| {
                l.split("SET GLOBAL gtid_slave_pos='")
                    .nth(1)?
                    .split('\'')
                    .next()
                    .map(String::from)
            })
            .ok_or_else(|| DriverError::failed("the source's dump names no GTID position"))?;
        Ok((dump, gtid))
    }

    /// Loads `dump` as the admin without writing this server's binary log.
    async fn load(&self, dump: &Path) -> Result<(), DriverError> {
        let admin_pw = server::read_sealed(&self.path("admin.secret"), &self.spec.secrets)?;
        let options = self.seed_dir().join("admin.cnf");
        option_file(
            &options,
            &[
                format!("user = {ADMIN}"),
                format!("password = \"{}\"", admin_pw.trim()),
                format!("socket = {}", self.path("run/mysqld.sock").display()),
            ],
        )?;
        let log = self.path("log/commands.log");
        let input = std::fs::File::open(dump).map_err(DriverError::at(dump))?;
        let mut cmd = server::command(Path::new("/usr/bin/mariadb"), None, &log)?;
        cmd.arg(format!("--defaults-file={}", options.display()))
            .arg("--init-command=SET SESSION sql_log_bin = 0")
            .stdin(input);
        server::run(cmd, "mariadb (seed)", &log).await
    }

    async fn seed_from(&self, request: PrepareRequest, settings: ServerSettings) -> Result<(), DriverError> {
        let source = settings
            .follows()
            .cloned()
            .ok_or_else(|| DriverError::failed("a replica needs a source"))?;
        let shared = request
            .replica_of
            .as_ref()
            .and_then(|r| r.shared_password.clone())
            .ok_or_else(|| DriverError::failed("the source did not hand over the group's admin password"))?;
        let done = self.path(".replica-seeded");
        if !done.exists() {
            // A seed cut short starts over on an empty server.
            Server::stop(self).await?;
            let _ = std::fs::remove_dir_all(self.path("data"));
            let mut own = request.clone();
            own.databases.clear();
            own.users.clear();
            Server::prepare(self, own, settings.clone()).await?;
            let pw = password(self, &settings)?;
            let (dump, gtid) = self.dump_source(&source, &pw).await?;
            self.load(&dump).await?;
            // The dump brought the source's accounts: the admin's password is the group's.
            server::write_sealed(&self.path("admin.secret"), &shared, &self.spec.secrets)?;
            // What this server logged of its own before the copy is not the group's history.
            self.exec("RESET MASTER").await?;
            self.exec(&format!("SET GLOBAL gtid_slave_pos = {}", literal(&gtid)))
                .await?;
            let _ = std::fs::remove_dir_all(self.seed_dir());
            server::write_file(&done, "", 0o600, None)?;
        }
        self.start_server(&settings, None).await?;
        self.change_master(&source, &password(self, &settings)?).await?;
        self.exec("SET GLOBAL read_only = ON").await
    }
}

impl Replication for MariaServer {
    fn enable_source(&self, settings: ServerSettings, _slots: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.render_config(&settings, None)?;
            let binlog: Option<(u8,)> = self.query_one("SELECT @@log_bin").await?.map(mysql_async::from_row);
            if binlog.is_none_or(|(on,)| on == 0) {
                // The first replica of a server turns its binary log on: one restart.
                Server::stop(self).await?;
                self.start_server(&settings, None).await?;
            }
            if !self.is_replica().await? {
                // A replica has the account already: it is its source's.
                let pw = literal(&password(self, &settings)?);
                let account = format!("{}@'%'", literal(REPLICATION_USER));
                self.exec(&format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {pw}"))
                    .await?;
                self.exec(&format!("ALTER USER {account} IDENTIFIED BY {pw}")).await?;
                self.exec(&format!("GRANT {REPLICATION_GRANTS} ON *.* TO {account}"))
                    .await?;
            }
            Ok(())
        })
    }

    fn shared_password(&self) -> Result<Option<String>, DriverError> {
        server::read_sealed(&self.path("admin.secret"), &self.spec.secrets).map(|p| Some(p.trim().to_string()))
    }

    fn drop_slot(&self, _slot: String) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }

    fn seed(&self, request: PrepareRequest, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.seed_from(request, settings))
    }

    fn demote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<Position, DriverError>> {
        Box::pin(async move {
            self.render_config(&settings, None)?;
            if !self.running() {
                // A stopped source is fenced by its configuration: it starts read-only.
                return Ok(Position::default());
            }
            // Waits for the commits in flight: the position after it is final.
            self.exec("SET GLOBAL read_only = ON").await?;
            self.end_client_sessions().await?;
            Ok(self.status(settings).await?.position)
        })
    }

    fn promote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.render_config(&settings, None)?;
            self.start_server(&settings, None).await?;
            self.exec("STOP SLAVE").await?;
            self.exec("RESET SLAVE ALL").await?;
            if !read_only(&settings) {
                self.exec("SET GLOBAL read_only = OFF").await?;
            }
            Ok(())
        })
    }

    fn follow(&self, settings: ServerSettings, start: bool) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.render_config(&settings, None)?;
            if !self.running() {
                if !start {
                    return Ok(()); // it starts read-only, and follows once told again
                }
                self.start_server(&settings, None).await?;
            }
            self.exec("SET GLOBAL read_only = ON").await?;
            let source = settings
                .follows()
                .cloned()
                .ok_or_else(|| DriverError::failed("a replica needs a source"))?;
            self.change_master(&source, &password(self, &settings)?).await
        })
    }

    fn status(&self, settings: ServerSettings) -> BoxFuture<'_, Result<ReplicationStatus, DriverError>> {
        Box::pin(async move {
            let row = self
                .query_one("SELECT @@gtid_current_pos, @@read_only")
                .await?
                .ok_or_else(|| DriverError::failed("MariaDB answered no position"))?;
            let (gtids, read_only): (String, u8) = mysql_async::from_row(row);
            let slave = self.query_one("SHOW SLAVE STATUS").await?;
            let (streaming, behind) = match &slave {
                Some(row) => {
                    let io: Option<String> = row.get("Slave_IO_Running");
                    let sql: Option<String> = row.get("Slave_SQL_Running");
                    let behind: Option<Option<f64>> = row.get("Seconds_Behind_Master");
                    (
                        io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes"),
                        behind.flatten(),
                    )
                }
                None => (false, None),
            };
            let role = match (&slave, &settings.replication) {
                (Some(_), _) => "replica",
                (None, Some(_)) => "source",
                (None, None) => "standalone",
            };
            Ok(ReplicationStatus {
                role: role.into(),
                writable: read_only == 0,
                streaming,
                position: Position {
                    offset: gtid_offset(&gtids),
                    text: gtids,
                },
                lag: None,
                lag_seconds: behind,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gtid_lists_become_one_growing_number() {
        assert_eq!(super::gtid_offset(""), 0);
        assert_eq!(super::gtid_offset("0-1-42"), 42);
        assert_eq!(super::gtid_offset("0-1-42,1-2-7"), 49);
    }
}
