//! Replication as the control plane and a guest speak of it (Trove's guest methods
//! `enable_as_master`, `attach_replica`, `detach_replica`, `demote_replication_master`,
//! `get_last_txn`, `wait_for_txn`, `cleanup_source_on_replica_detach`): the arguments and answers,
//! and the one [`ReplicationOp`] a datastore driver carries out for each.

use serde::{Deserialize, Serialize};

/// The account replicas (and coffer's seeding) log in to a source as, on every datastore.
pub const REPLICATION_USER: &str = "coffer_repl";

/// The replication slot (PostgreSQL) a source keeps for `replica_id`: its id in a form every
/// datastore takes as a name.
pub fn slot_name(replica_id: &str) -> String {
    let plain: String = replica_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("coffer_{plain}")
}

/// Where a replica streams from: its source's address and port, the slot the source keeps
/// for this replica, and the group's replication password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaOf {
    pub address: String,
    pub port: u16,
    pub slot: String,
    pub password: String,
    /// The password every member of the group shares, where the datastore keeps it outside
    /// what replicates: Redis' clients' password, MariaDB's admin password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_password: Option<String>,
}

/// How far a server's data has come: a PostgreSQL LSN, a Redis replication offset, a MariaDB
/// GTID sequence number, with the datastore's own text for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub text: String,
}

/// `enable_as_master`: the replication account with the group's password, and a slot for each
/// replica that will follow (kept until `cleanup_source_on_replica_detach`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnableSource {
    pub slots: Vec<String>,
    pub password: String,
}

/// `cleanup_source_on_replica_detach`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DropSlot {
    pub slot: String,
}

/// `attach_replica`: follow `replica_of` from now on (a running replica re-points, a former
/// source becomes a replica; a server that is down is configured to start as one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachReplica {
    pub replica_of: ReplicaOf,
}

/// `wait_for_txn`: whether this replica has applied everything up to `position` (it waits a
/// little for it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitForTxn {
    pub position: Position,
}

/// What a member of a replication group says of itself (`replication_status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// `source`, `replica` or `standalone`.
    pub role: String,
    /// Whether the server takes writes.
    pub writable: bool,
    /// A replica's link to its source is up.
    pub streaming: bool,
    /// How far this server has come.
    pub position: Position,
    /// A replica's distance behind its source: bytes (PostgreSQL, Redis) or transactions
    /// (MariaDB), and seconds since the last applied change when the datastore knows.
    pub lag: Option<u64>,
    pub lag_seconds: Option<f64>,
}

/// One replication operation for a datastore driver.
#[derive(Debug, Clone)]
pub enum ReplicationOp {
    EnableSource(EnableSource),
    DropSlot(DropSlot),
    Attach(ReplicaOf),
    /// Leave the group: writable, standalone (`for_failover` changes nothing of it).
    Detach,
    /// Stop taking writes and drain to the replicas; answers the final position.
    Demote,
    Position,
    WaitFor(Position),
    Status,
}

impl ReplicationOp {
    /// The op a guest method names, with its decoded arguments.
    pub fn from_call(method: &str, args: &serde_json::Value) -> Option<Result<ReplicationOp, serde_json::Error>> {
        fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(v.clone())
        }
        Some(match method {
            "enable_as_master" => decode(args).map(ReplicationOp::EnableSource),
            "cleanup_source_on_replica_detach" => decode(args).map(ReplicationOp::DropSlot),
            "attach_replica" => decode(args).map(|a: AttachReplica| ReplicationOp::Attach(a.replica_of)),
            "detach_replica" => Ok(ReplicationOp::Detach),
            "demote_replication_master" => Ok(ReplicationOp::Demote),
            "get_last_txn" => Ok(ReplicationOp::Position),
            "wait_for_txn" => decode(args).map(|w: WaitForTxn| ReplicationOp::WaitFor(w.position)),
            "replication_status" => Ok(ReplicationOp::Status),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_are_plain() {
        assert_eq!(
            slot_name("0F3a-b2-X"),
            "coffer_0f3ab2x",
            "lower-case letters, digits and _ only"
        );
        assert!(slot_name(&uuid::Uuid::new_v4().to_string()).len() < 64);
    }

    #[test]
    fn methods_decode_to_ops() {
        let op = ReplicationOp::from_call(
            "wait_for_txn",
            &serde_json::json!({"position": {"offset": 5, "text": "0/5"}}),
        );
        assert!(matches!(op, Some(Ok(ReplicationOp::WaitFor(p))) if p.offset == 5));
        assert!(ReplicationOp::from_call("prepare", &serde_json::json!({})).is_none());
        assert!(matches!(
            ReplicationOp::from_call("attach_replica", &serde_json::json!({})),
            Some(Err(_))
        ));
    }
}

/// A server's part in a replication group, kept with its settings so that every start renders
/// it: the replication account (any member may become the source), the source it follows as a
/// replica, and whether writes are fenced off (a source demoted for a switchover).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupMember {
    /// The group's replication password, sealed under the master key.
    pub password_sealed: String,
    /// The source this server follows; `None` on the source.
    pub follows: Option<SourceAddress>,
    /// Writes are refused until the server follows another source or is detached.
    #[serde(default)]
    pub fenced: bool,
}

/// Where a replica's source is (its password is the group's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceAddress {
    pub address: String,
    pub port: u16,
    pub slot: String,
}
