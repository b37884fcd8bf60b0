//! Redis replication: a replica is an empty server with `replicaof` its source, logging in as
//! the ACL user `coffer_repl` (allowed only what a replica needs: PSYNC, REPLCONF, PING), and
//! read-only (`replica-read-only`). A switchover takes writes from every client of the source
//! (an ACL change, which also binds connections already open) and waits until the candidate's
//! offset reaches the source's; `REPLICAOF NO ONE` promotes it and the others re-point, which
//! Redis' PSYNC2 turns into a partial resynchronization.

use super::{sha256_hex, RedisServer};
use crate::guest::driver_error::DriverError;
use crate::guest::process::{Replication, Server};
use crate::guest::replication::{Position, ReplicationStatus, REPLICATION_USER};
use crate::guest::{PrepareRequest, ServerSettings};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a new replica may take to receive its source's data set.
const FIRST_SYNC: Duration = Duration::from_secs(120);

fn password(server: &RedisServer, settings: &ServerSettings) -> Result<String, DriverError> {
    settings
        .replication_password(&server.spec.secrets)
        .ok_or_else(|| DriverError::failed("the replication password cannot be opened"))
}

impl RedisServer {
    /// The replication account of a group member, and a replica's source.
    pub(super) fn replication_lines(&self, settings: &ServerSettings) -> Result<Vec<String>, DriverError> {
        if settings.replication.is_none() {
            return Ok(Vec::new());
        }
        let password = password(self, settings)?;
        let mut lines = vec![format!(
            "user {REPLICATION_USER} on #{} -@all +psync +replconf +ping",
            sha256_hex(&password)
        )];
        if let Some(source) = settings.follows() {
            lines.extend([
                format!("replicaof {} {}", source.address, source.port),
                format!("masteruser {REPLICATION_USER}"),
                format!("masterauth {}", super::quote(&password)),
                "replica-read-only yes".into(),
            ]);
        }
        Ok(lines)
    }

    async fn info(&self) -> Result<HashMap<String, String>, DriverError> {
        let mut conn = self.admin().await?;
        let text: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .map_err(DriverError::query("Redis"))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    async fn command(&self, args: &[&str]) -> Result<(), DriverError> {
        let mut conn = self.admin().await?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async::<redis::Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(DriverError::query("Redis"))
    }

    /// The replication account, with the group's password, on the running server.
    async fn set_replication_account(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        let digest = format!("#{}", sha256_hex(&password(self, settings)?));
        let rule = ["ACL", "SETUSER", REPLICATION_USER, "reset", "on", &digest];
        self.command(&[&rule[..], &["+psync", "+replconf", "+ping"]].concat())
            .await
    }

    /// Brings the running server to `settings`: its accounts, its write rule, whom it follows.
    async fn apply_replication(&self, settings: &ServerSettings) -> Result<(), DriverError> {
        self.render_config(settings)?;
        if settings.replication.is_some() {
            self.set_replication_account(settings).await?;
        }
        match settings.follows() {
            Some(source) => {
                let pw = password(self, settings)?;
                self.command(&["CONFIG", "SET", "masteruser", REPLICATION_USER]).await?;
                self.command(&["CONFIG", "SET", "masterauth", &pw]).await?;
                self.command(&["REPLICAOF", &source.address, &source.port.to_string()])
                    .await?;
            }
            None => self.command(&["REPLICAOF", "NO", "ONE"]).await?,
        }
        self.apply_read_only(settings.clone()).await
    }
}

impl Replication for RedisServer {
    fn enable_source(&self, settings: ServerSettings, _slots: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.render_config(&settings)?;
            self.set_replication_account(&settings).await
        })
    }

    fn shared_password(&self) -> Result<Option<String>, DriverError> {
        crate::guest::server::read_sealed(&self.path("client.secret"), &self.spec.secrets)
            .map(|p| Some(p.trim().to_string()))
    }

    fn drop_slot(&self, _slot: String) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }

    fn seed(&self, request: PrepareRequest, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            // The group's clients' password is the replica's too.
            let mut request = request;
            if let Some(shared) = request.replica_of.as_ref().and_then(|r| r.shared_password.clone()) {
                request.root_password = Some(shared);
            }
            Server::prepare(self, request, settings).await?;
            // Healthy only once it holds its source's data set.
            let deadline = Instant::now() + FIRST_SYNC;
            loop {
                let info = self.info().await?;
                let linked = info.get("master_link_status").map(String::as_str) == Some("up");
                let syncing = info.get("master_sync_in_progress").map(String::as_str) != Some("0");
                if linked && !syncing {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(DriverError::failed(
                        "the replica did not receive its source's data in time",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }

    fn demote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<Position, DriverError>> {
        Box::pin(async move {
            if !self.running() {
                // A stopped source is fenced by its configuration: it starts read-only.
                self.render_config(&settings)?;
                return Ok(Position::default());
            }
            self.apply_read_only(settings.clone()).await?;
            let status = self.status(settings).await?;
            Ok(status.position)
        })
    }

    fn promote(&self, settings: ServerSettings) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            if !self.running() {
                self.start(settings.clone()).await?;
            }
            self.apply_replication(&settings).await
        })
    }

    fn follow(&self, settings: ServerSettings, start: bool) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            if self.running() {
                return self.apply_replication(&settings).await;
            }
            self.render_config(&settings)?;
            if start {
                self.start(settings).await?;
            }
            Ok(())
        })
    }

    fn status(&self, settings: ServerSettings) -> BoxFuture<'_, Result<ReplicationStatus, DriverError>> {
        Box::pin(async move {
            let info = self.info().await?;
            let get = |k: &str| info.get(k).map(String::as_str);
            let number = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok());
            let replica = get("role") == Some("slave");
            let offset = if replica {
                number("slave_repl_offset").unwrap_or(0)
            } else {
                number("master_repl_offset").unwrap_or(0)
            };
            let role = match (replica, settings.replication.is_some()) {
                (true, _) => "replica",
                (false, true) => "source",
                (false, false) => "standalone",
            };
            Ok(ReplicationStatus {
                role: role.into(),
                writable: !replica && !settings.refuses_writes(),
                streaming: get("master_link_status") == Some("up"),
                position: Position {
                    offset,
                    text: offset.to_string(),
                },
                lag: None,
                lag_seconds: number("master_last_io_seconds_ago").map(|s| s as f64),
            })
        })
    }
}
