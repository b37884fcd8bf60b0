//! The kinds of flow: for each, its stored name, its steps, what it targets (an instance or a
//! backup, hence which flow actor runs it) and the task-manager method (Trove's name) that the
//! API casts to wake it. One table instead of parallel string lists.

use crate::db::models::flow::Flow;
use crate::ids::{BackupId, InstanceId};
use serde::{Deserialize, Serialize};

/// The flow actors, as supervision events name their kind.
pub const INSTANCE_ACTOR: &str = "instance";
pub const BACKUP_ACTOR: &str = "backup";

/// What a flow works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Instance,
    Backup,
}

/// The one instance or backup whose flows a flow actor runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetId {
    Instance(InstanceId),
    Backup(BackupId),
}

impl TargetId {
    /// The target `id` of a flow of `kind` as stored (`flows.target_id`).
    pub fn of(kind: FlowKind, id: &str) -> TargetId {
        match kind.target() {
            Target::Instance => TargetId::Instance(InstanceId::new(id)),
            Target::Backup => TargetId::Backup(BackupId::new(id)),
        }
    }

    pub fn target(&self) -> Target {
        match self {
            TargetId::Instance(_) => Target::Instance,
            TargetId::Backup(_) => Target::Backup,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TargetId::Instance(id) => id.as_str(),
            TargetId::Backup(id) => id.as_str(),
        }
    }

    /// The kind of flow actor that runs its flows (as supervision events name it).
    pub fn actor_kind(&self) -> &'static str {
        self.target().actor_kind()
    }
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The arguments of a task manager's wake-up cast (`create_instance`, `delete_backup`, …):
/// the flow's target, under the name Trove gives it. The flow row is the work; this only says
/// whose flows to claim.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WakeUp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<InstanceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<BackupId>,
}

impl WakeUp {
    pub fn of(target: &TargetId) -> WakeUp {
        match target {
            TargetId::Instance(id) => WakeUp {
                instance_id: Some(id.clone()),
                ..WakeUp::default()
            },
            TargetId::Backup(id) => WakeUp {
                backup_id: Some(id.clone()),
                ..WakeUp::default()
            },
        }
    }

    /// The target a method of `kind` names; `None` when the cast lacks it.
    pub fn target(self, kind: FlowKind) -> Option<TargetId> {
        match kind.target() {
            Target::Instance => self.instance_id.map(TargetId::Instance),
            Target::Backup => self.backup_id.map(TargetId::Backup),
        }
    }

    /// The cast that wakes the task manager for a flow of `kind` on `target_id`.
    pub fn envelope(kind: FlowKind, target_id: &str) -> crate::bus::Envelope {
        let args = crate::guest::messages::encode(&WakeUp::of(&TargetId::of(kind, target_id)));
        crate::bus::Envelope::new(kind.method(), args)
    }
}

impl Target {
    /// The kind of flow actor that runs flows of this target.
    pub fn actor_kind(self) -> &'static str {
        match self {
            Target::Instance => INSTANCE_ACTOR,
            Target::Backup => BACKUP_ACTOR,
        }
    }

    /// The argument naming the target in a task-manager cast.
    pub fn key(self) -> &'static str {
        match self {
            Target::Instance => "instance_id",
            Target::Backup => "backup_id",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Create,
    Delete,
    Restart,
    ResizeFlavor,
    ResizeVolume,
    Backup,
    DeleteBackup,
    Upgrade,
    Rebuild,
    UpdateAccess,
    /// A configuration group's values brought to the instance's server (attach, detach, a
    /// change of the group).
    Configure,
    /// A replica leaves its group (Trove's `detach_replica`).
    Detach,
    /// Switchover to a replica (`promote_to_replica_source`).
    Promote,
    /// Failover away from a source that stopped (`eject_replica_source`).
    Eject,
}

const ALL: [FlowKind; 14] = [
    FlowKind::Create,
    FlowKind::Delete,
    FlowKind::Restart,
    FlowKind::ResizeFlavor,
    FlowKind::ResizeVolume,
    FlowKind::Backup,
    FlowKind::DeleteBackup,
    FlowKind::Upgrade,
    FlowKind::Rebuild,
    FlowKind::UpdateAccess,
    FlowKind::Configure,
    FlowKind::Detach,
    FlowKind::Promote,
    FlowKind::Eject,
];

impl FlowKind {
    /// The name stored in `flows.kind` (and shown in `/mgmt/flows`).
    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Create => "create",
            FlowKind::Delete => "delete",
            FlowKind::Restart => "restart",
            FlowKind::ResizeFlavor => "resize_flavor",
            FlowKind::ResizeVolume => "resize_volume",
            FlowKind::Backup => "backup",
            FlowKind::DeleteBackup => "delete_backup",
            FlowKind::Upgrade => "upgrade",
            FlowKind::Rebuild => "rebuild",
            FlowKind::UpdateAccess => "update_access",
            FlowKind::Configure => "configure",
            FlowKind::Detach => "detach_replica",
            FlowKind::Promote => "promote_to_replica_source",
            FlowKind::Eject => "eject_replica_source",
        }
    }

    pub fn parse(name: &str) -> Option<FlowKind> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    /// The task-manager method the API casts for it (Trove's names).
    pub fn method(self) -> &'static str {
        match self {
            FlowKind::Create => "create_instance",
            FlowKind::Delete => "delete_instance",
            FlowKind::Backup => "create_backup",
            FlowKind::Configure => "update_overrides",
            other => other.name(),
        }
    }

    /// The kind a task-manager method wakes.
    pub fn from_method(method: &str) -> Option<FlowKind> {
        ALL.into_iter().find(|k| k.method() == method)
    }

    pub fn target(self) -> Target {
        match self {
            FlowKind::Backup | FlowKind::DeleteBackup => Target::Backup,
            _ => Target::Instance,
        }
    }

    /// Its steps' names, in order (for logs and `/mgmt/flows`).
    pub fn steps(self) -> &'static [&'static str] {
        use super::{backup, configure, create, delete, rebuild, replication, resize, restart, switchover};
        match self {
            FlowKind::Create => create::STEPS,
            FlowKind::Delete => delete::STEPS,
            FlowKind::Restart => restart::STEPS,
            FlowKind::ResizeFlavor => resize::FLAVOR_STEPS,
            FlowKind::ResizeVolume => resize::VOLUME_STEPS,
            FlowKind::Backup => backup::STEPS,
            FlowKind::DeleteBackup => backup::DELETE_STEPS,
            FlowKind::Upgrade | FlowKind::Rebuild => rebuild::STEPS,
            FlowKind::UpdateAccess => rebuild::ACCESS_STEPS,
            FlowKind::Configure => configure::STEPS,
            FlowKind::Detach => replication::DETACH_STEPS,
            FlowKind::Promote | FlowKind::Eject => switchover::STEPS,
        }
    }
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A flow row as the domain makes and reads it (the row itself is [`crate::db::models::flow`]'s).
impl Flow {
    /// A new, unowned flow at step 0; any task manager may claim it.
    pub fn new(kind: FlowKind, target_id: &str, state: &impl serde::Serialize, deadline_ms: i64) -> Flow {
        let now = crate::db::now_ms();
        Flow {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.name().to_string(),
            target_id: target_id.to_string(),
            step: 0,
            // Plain derived types: serializing them cannot fail.
            state: serde_json::to_string(state).unwrap_or_else(|_| "{}".into()),
            status: crate::db::models::flow::RUNNING.to_string(),
            owner: None,
            lease_until: 0,
            deadline: now + deadline_ms,
            attempts: 0,
            last_error: None,
            created: now,
            updated: now,
            request_id: crate::telemetry::request::current(),
        }
    }

    /// Its kind; `None` for a kind this coffer does not know (a newer one's).
    pub fn flow_kind(&self) -> Option<FlowKind> {
        FlowKind::parse(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_methods_are_one_table() {
        for kind in ALL {
            assert_eq!(FlowKind::parse(kind.name()), Some(kind));
            assert_eq!(FlowKind::from_method(kind.method()), Some(kind));
            assert!(!kind.steps().is_empty());
        }
        assert_eq!(FlowKind::from_method("create_instance"), Some(FlowKind::Create));
        assert_eq!(FlowKind::Backup.target(), Target::Backup);
        assert_eq!(FlowKind::parse("bogus"), None);
    }

    #[test]
    fn a_wake_up_names_its_target_as_trove_does() {
        let cast = WakeUp::envelope(FlowKind::DeleteBackup, "b1");
        assert_eq!(cast.method, "delete_backup");
        assert_eq!(cast.args, serde_json::json!({"backup_id": "b1"}));
        let back: WakeUp = serde_json::from_value(cast.args).unwrap();
        assert_eq!(
            back.target(FlowKind::DeleteBackup),
            Some(TargetId::Backup(BackupId::new("b1")))
        );
        let wrong: WakeUp = serde_json::from_value(serde_json::json!({"instance_id": "i1"})).unwrap();
        assert_eq!(
            wrong.target(FlowKind::DeleteBackup),
            None,
            "a backup method without backup_id"
        );
    }
}
