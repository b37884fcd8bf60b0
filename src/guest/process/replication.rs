//! A real server's part in a replication group: each [`ReplicationOp`] first records in the
//! volume's settings what the server is to be (source, replica of whom, fenced), then has the
//! driver bring the running server there, so a crash in between is repaired by the next start
//! or by the flow sending the same operation again.

use super::{failed, marker, ProcessDatastore, Server};
use crate::guest::replication::{ReplicaOf, ReplicationOp};
use crate::guest::{GroupMember, GuestError, GuestFuture, ServerSettings, SourceAddress};
use futures::FutureExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long `wait_for_txn` waits before it answers "not yet" (the flow asks again).
const WAIT_FOR_TXN: Duration = Duration::from_secs(2);

fn source_address(of: &ReplicaOf) -> SourceAddress {
    SourceAddress {
        address: of.address.clone(),
        port: of.port,
        slot: of.slot.clone(),
    }
}

/// The settings of a replica of `of` (the group's password sealed with `key`).
pub(super) fn member_of(of: &ReplicaOf, key: &crate::secrets::MasterKey) -> GroupMember {
    GroupMember {
        password_sealed: key.seal(&of.password),
        follows: Some(source_address(of)),
        fenced: false,
    }
}

impl<S: Server> ProcessDatastore<S> {
    /// Records `change` in the settings (in the volume first, then in memory); answers them.
    fn change_settings(&self, change: impl FnOnce(&mut ServerSettings)) -> Result<ServerSettings, GuestError> {
        let mut settings = self.settings.lock().clone();
        change(&mut settings);
        Self::save_settings(self.server.dir(), &settings).map_err(failed)?;
        *self.settings.lock() = settings.clone();
        Ok(settings)
    }

    /// A server coffer records as a replica (see [`crate::guest::Datastore::expect_replica`])
    /// whose volume names no source was ejected as a source while its guest was gone: it is
    /// fenced for good, so whatever starts it later starts it refusing writes, until it is
    /// detached or follows a source. Answers whether it is such a server (to be kept stopped).
    pub(super) fn fence_if_orphaned(&self) -> Result<bool, GuestError> {
        let orphaned = self.recorded_replica && self.settings.lock().follows().is_none();
        if !orphaned || !marker(self.server.dir()).exists() {
            return Ok(false);
        }
        tracing::warn!(volume = %self.server.dir().display(), "recorded as a replica but not told whom to follow: its server is stopped and stays stopped");
        self.change_settings(|s| s.replication.get_or_insert_with(GroupMember::default).fenced = true)?;
        Ok(true)
    }

    pub(super) fn replicate(&mut self, op: ReplicationOp) -> GuestFuture<Value> {
        if !marker(self.server.dir()).exists() {
            return Box::pin(async { Err(GuestError::Unprocessable("the datastore is not prepared yet".into())) });
        }
        if self.server.replication().is_none() {
            return Box::pin(async { Err(GuestError::NotImplemented("replication".into())) });
        }
        let key = std::sync::Arc::clone(&self.server.spec().secrets);
        // A server that is down stays down unless coffer stopped it (a demoted source): a
        // failed source is only made safe to start.
        let start = self.server.running() || self.settings.lock().refuses_writes();
        let changed = match &op {
            ReplicationOp::EnableSource(enable) => self.change_settings(|s| {
                let member = s.replication.get_or_insert_with(GroupMember::default);
                member.password_sealed = key.seal(&enable.password);
            }),
            ReplicationOp::Attach(of) => self.change_settings(|s| s.replication = Some(member_of(of, &key))),
            ReplicationOp::Detach => self.change_settings(|s| s.replication = None),
            ReplicationOp::Demote => self.change_settings(|s| {
                s.replication.get_or_insert_with(GroupMember::default).fenced = true;
            }),
            _ => Ok(self.settings.lock().clone()),
        };
        let settings = match changed {
            Ok(s) => s,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let (server, _, lifecycle) = self.parts();
        async move {
            let Some(driver) = server.replication() else {
                return Err(GuestError::NotImplemented("replication".into()));
            };
            let _serial = match op {
                ReplicationOp::Status | ReplicationOp::Position | ReplicationOp::WaitFor(_) => None,
                _ => Some(lifecycle.lock().await),
            };
            match op {
                ReplicationOp::EnableSource(enable) => {
                    driver.enable_source(settings, enable.slots).await.map_err(failed)?;
                    let shared_password = driver.shared_password().map_err(failed)?;
                    Ok(json!({ "shared_password": shared_password }))
                }
                ReplicationOp::DropSlot(drop) => {
                    driver.drop_slot(drop.slot).await.map_err(failed)?;
                    Ok(Value::Null)
                }
                ReplicationOp::Attach(_) => {
                    driver.follow(settings, start).await.map_err(failed)?;
                    Ok(Value::Null)
                }
                ReplicationOp::Detach => {
                    driver.promote(settings).await.map_err(failed)?;
                    Ok(Value::Null)
                }
                ReplicationOp::Demote => {
                    let at = driver.demote(settings).await.map_err(failed)?;
                    Ok(json!(at))
                }
                ReplicationOp::Position => {
                    let status = driver.status(settings).await.map_err(failed)?;
                    Ok(json!(status.position))
                }
                ReplicationOp::WaitFor(target) => {
                    let deadline = Instant::now() + WAIT_FOR_TXN;
                    loop {
                        let status = driver.status(settings.clone()).await.map_err(failed)?;
                        if status.position.offset >= target.offset {
                            return Ok(json!(true));
                        }
                        if Instant::now() > deadline {
                            return Ok(json!(false));
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                ReplicationOp::Status => {
                    let status = driver.status(settings).await.map_err(failed)?;
                    Ok(json!(status))
                }
            }
        }
        .boxed()
    }
}
