//! PostgreSQL restore: the full backup unpacked into the data directory and the incrementals'
//! WAL into a restore directory that `restore_command` reads; a private first start (no TCP, the
//! admin trusted on the socket only) until recovery ends; this instance's own admin password;
//! then a normal start. Each phase is marked done in the volume, so a restore interrupted by a
//! crash starts its unfinished phase again from scratch.

use super::{PgServer, ADMIN, PORT};
use crate::guest::backup_stream::{self, Unpack};
use crate::guest::driver_error::DriverError;
use crate::guest::server;
use crate::guest::{PrepareRequest, RestorePiece, ServerSettings};
use crate::storage::BackupStore;
use std::path::Path;
use std::time::Duration;

impl PgServer {
    /// Fetches, verifies and unpacks one backup of the chain.
    async fn load_piece(&self, store: &BackupStore, piece: &RestorePiece, into: &Path) -> Result<(), DriverError> {
        let packed = self.spec.dir.join(format!("restore-{}.zst", piece.backup_id));
        backup_stream::fetch_verified(store, &piece.object_key, &piece.checksum, &packed).await?;
        server::make_dir(into, 0o700, self.spec.user)?;
        let log = self.log();
        let mut cmd = server::command(Path::new("/usr/bin/tar"), self.spec.user, &log)?;
        cmd.arg("-x").arg("-C").arg(into);
        let unpacked = backup_stream::unpack(
            &packed,
            Unpack::Command {
                cmd: Box::new(cmd),
                name: "tar".into(),
                log,
            },
        )
        .await;
        let _ = std::fs::remove_file(&packed);
        unpacked
    }

    pub(super) async fn restore_chain(
        &self,
        request: PrepareRequest,
        settings: ServerSettings,
        store: BackupStore,
    ) -> Result<(), DriverError> {
        let Some((full, incrementals)) = request.restore.split_first() else {
            return Err(DriverError::failed("nothing to restore"));
        };
        // Each phase is marked done in the volume; a restore that died part-way starts its
        // unfinished phase again from scratch (stopping what it had started).
        let (unpacked, recovered) = (
            self.spec.dir.join(".restore-unpacked"),
            self.spec.dir.join(".restore-recovered"),
        );
        self.make_volume_dirs()?;
        crate::guest::process::Server::stop(self).await?;
        if !unpacked.exists() {
            for dir in [self.data(), self.restore_wal_dir()] {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(DriverError::Failed(format!("{}: {e}", dir.display()))),
                }
            }
            self.make_volume_dirs()?;
            self.load_piece(&store, full, &self.data()).await?;
            for piece in incrementals {
                self.load_piece(&store, piece, &self.restore_wal_dir()).await?;
            }
            server::write_file(&unpacked, "", 0o600, None)?;
        }
        if !recovered.exists() {
            self.recover(&settings, !incrementals.is_empty()).await?;
            server::write_file(&recovered, "", 0o600, None)?;
        }
        let _ = std::fs::remove_dir_all(self.restore_wal_dir());
        self.render_config(&settings)?;
        self.start_server().await
    }

    /// Recovery of the unpacked backup in a private start, then this instance's own admin
    /// password; the server is stopped again.
    async fn recover(&self, settings: &ServerSettings, replay_wal: bool) -> Result<(), DriverError> {
        let password = crate::secrets::random_password(32);
        // Recovery runs with only the admin admitted, over a socket only coffer can reach.
        self.render_config(settings)?;
        self.render_private_start(replay_wal)?;
        self.start_server().await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(3600);
        loop {
            let in_recovery = match self.trusted_admin().await {
                Ok(client) => client
                    .query_one("SELECT pg_is_in_recovery()", &[])
                    .await
                    .map(|r| r.get::<_, bool>(0))
                    .unwrap_or(true),
                Err(_) => true,
            };
            if !in_recovery {
                break;
            }
            if std::time::Instant::now() > deadline || self.running_pid().is_none() {
                return Err(DriverError::Failed(format!(
                    "PostgreSQL did not finish recovering the backup: {}",
                    server::log_tail(&self.server_log())
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let client = self.trusted_admin().await?;
        client
            .batch_execute(&format!(
                "ALTER ROLE {ADMIN} PASSWORD {}",
                super::quote_literal(&password)
            ))
            .await
            .map_err(DriverError::query("PostgreSQL"))?;
        drop(client);
        server::write_sealed(&self.secret(), &password, &self.spec.secrets)?;
        crate::guest::process::Server::stop(self).await
    }

    /// Configuration for the private first start of a restore: no TCP listener, the admin
    /// trusted on the socket only, the socket directory closed to others; and, with WAL to
    /// replay, recovery from the restore directory.
    fn render_private_start(&self, replay_wal: bool) -> Result<(), DriverError> {
        let conf = self.data().join("coffer.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(DriverError::at(&conf))?;
        text.push_str("listen_addresses = ''\nunix_socket_permissions = 0700\n");
        // A backup taken of a replica is a standby's copy: the restore is a server of its own.
        let standby = self.data().join("standby.signal");
        if standby.exists() {
            std::fs::remove_file(&standby).map_err(DriverError::at(&standby))?;
        }
        if replay_wal {
            text.push_str(&format!(
                "restore_command = 'cp {}/%f %p'\nrecovery_target_timeline = 'latest'\n",
                self.restore_wal_dir().display()
            ));
            server::write_file(&self.data().join("recovery.signal"), "", 0o600, self.spec.user)?;
        }
        server::write_file(&conf, &text, 0o600, self.spec.user)?;
        server::write_file(
            &self.data().join("pg_hba.conf"),
            &format!("local all {ADMIN} trust\nlocal replication {ADMIN} trust\n"),
            0o600,
            self.spec.user,
        )
    }

    /// The admin over the socket without a password (the private start of a restore only).
    async fn trusted_admin(&self) -> Result<tokio_postgres::Client, DriverError> {
        let (client, connection) = tokio_postgres::Config::new()
            .options(super::ADMIN_SESSION)
            .host_path(self.run_dir())
            .port(PORT)
            .user(ADMIN)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(DriverError::connect("PostgreSQL"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}
