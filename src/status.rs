//! Trove's status model: the stored task and service statuses, and the rules that derive the
//! API's `status` and `operating_status` from them and from the compute server's status
//! (which plays the role of Nova's).
//!
//! One deliberate fix: Trove gives UPGRADING and RESTARTING the same code 0x22, so a stored
//! UPGRADING reads back as RESTARTING. Here UPGRADING keeps 0x22 and RESTARTING is 0x23.

/// The task an instance is in (`instances.task_id` / `task_description`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    None,
    Deleting,
    Rebooting,
    Resizing,
    Building,
    /// Access rules being applied (Trove's UPDATING; the API shows the server's status).
    Updating,
    Upgrading,
    /// An admin's rebuild; Trove has no task of its own for it, coffer shows Nova's REBUILD.
    Rebuilding,
    BuildingErrorServer,
    BuildingErrorTimeoutGa,
    /// Idle, but the server runs with configuration values older than its files until a
    /// restart (Trove's RESTART_REQUIRED); actions are allowed, a restart clears it.
    RestartRequired,
    /// A replica becoming its group's source (switchover), or a source being replaced
    /// (failover), or a replica leaving its group.
    Promoting,
    Ejecting,
    Detaching,
    /// A replica that could not be made from its source.
    BuildingErrorReplica,
    PromotionError,
    EjectionError,
}

const ALL_TASKS: [Task; 17] = [
    Task::None,
    Task::Deleting,
    Task::Rebooting,
    Task::Resizing,
    Task::Building,
    Task::Updating,
    Task::Upgrading,
    Task::Rebuilding,
    Task::BuildingErrorServer,
    Task::BuildingErrorTimeoutGa,
    Task::RestartRequired,
    Task::Promoting,
    Task::Ejecting,
    Task::Detaching,
    Task::BuildingErrorReplica,
    Task::PromotionError,
    Task::EjectionError,
];

impl Task {
    pub fn code(self) -> i32 {
        match self {
            Task::None => 0x01,
            Task::Deleting => 0x02,
            Task::Rebooting => 0x03,
            Task::Resizing => 0x04,
            Task::Building => 0x05,
            Task::Updating => 0x0c,
            Task::Rebuilding => 0x0d,
            Task::Upgrading => 0x59,
            Task::BuildingErrorServer => 0x51,
            Task::BuildingErrorTimeoutGa => 0x5b,
            Task::RestartRequired => 0x07,
            Task::Promoting => 0x08,
            Task::Ejecting => 0x09,
            Task::Detaching => 0x0b,
            Task::BuildingErrorReplica => 0x54,
            Task::PromotionError => 0x55,
            Task::EjectionError => 0x56,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Task::None => "No tasks for the instance.",
            Task::Deleting => "Deleting the instance.",
            Task::Rebooting => "Rebooting the instance.",
            Task::Resizing => "Resizing the instance.",
            Task::Building => "The instance is building.",
            Task::Updating => "Updating the instance.",
            Task::Upgrading => "Upgrading the instance.",
            Task::Rebuilding => "Rebuilding the instance.",
            Task::BuildingErrorServer => "Build error: Server.",
            Task::BuildingErrorTimeoutGa => "Build error: guestagent timeout.",
            Task::RestartRequired => "Instance requires a restart.",
            Task::Promoting => "Promoting the instance to replica source.",
            Task::Ejecting => "Ejecting the replica source.",
            Task::Detaching => "Detaching the instance from replica source.",
            Task::BuildingErrorReplica => "Build error: Replica.",
            Task::PromotionError => "Replica Source Promotion Error.",
            Task::EjectionError => "Replica Source Ejection Error.",
        }
    }

    /// Reads a stored code; `None` for a code coffer does not know (the API then shows ERROR).
    pub fn from_code(code: i32) -> Option<Task> {
        ALL_TASKS.into_iter().find(|t| t.code() == code)
    }

    /// No work in flight: NONE, or RESTART_REQUIRED (only a restart of the server is owed).
    pub fn is_idle(self) -> bool {
        matches!(self, Task::None | Task::RestartRequired)
    }

    pub fn is_error(self) -> bool {
        matches!(
            self,
            Task::BuildingErrorServer
                | Task::BuildingErrorTimeoutGa
                | Task::BuildingErrorReplica
                | Task::PromotionError
                | Task::EjectionError
        )
    }
}

/// The datastore service's status (`service_statuses.status_id` / `status_description`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    Running,
    Blocked,
    Paused,
    Shutdown,
    Deleted,
    Crashed,
    Failed,
    Building,
    Unknown,
    New,
    FailedTimeoutGuestagent,
    InstanceReady,
    RestartRequired,
    Healthy,
    Upgrading,
    Restarting,
}

const ALL_SERVICE_STATUSES: [ServiceStatus; 16] = [
    ServiceStatus::Running,
    ServiceStatus::Blocked,
    ServiceStatus::Paused,
    ServiceStatus::Shutdown,
    ServiceStatus::Deleted,
    ServiceStatus::Crashed,
    ServiceStatus::Failed,
    ServiceStatus::Building,
    ServiceStatus::Unknown,
    ServiceStatus::New,
    ServiceStatus::FailedTimeoutGuestagent,
    ServiceStatus::InstanceReady,
    ServiceStatus::RestartRequired,
    ServiceStatus::Healthy,
    ServiceStatus::Upgrading,
    ServiceStatus::Restarting,
];

impl ServiceStatus {
    /// (code, description as sent in heartbeats, API status).
    fn row(self) -> (i32, &'static str, &'static str) {
        match self {
            ServiceStatus::Running => (0x01, "running", "ACTIVE"),
            ServiceStatus::Blocked => (0x02, "blocked", "BLOCKED"),
            ServiceStatus::Paused => (0x03, "paused", "SHUTDOWN"),
            ServiceStatus::Shutdown => (0x04, "shutdown", "SHUTDOWN"),
            ServiceStatus::Deleted => (0x05, "deleted", "DELETED"),
            ServiceStatus::Crashed => (0x06, "crashed", "SHUTDOWN"),
            ServiceStatus::Failed => (0x08, "failed to spawn", "FAILED"),
            ServiceStatus::Building => (0x09, "building", "BUILD"),
            ServiceStatus::Unknown => (0x16, "unknown", "ERROR"),
            ServiceStatus::New => (0x17, "new", "NEW"),
            ServiceStatus::FailedTimeoutGuestagent => (0x18, "guestagent error", "ERROR"),
            ServiceStatus::InstanceReady => (0x19, "instance ready", "BUILD"),
            ServiceStatus::RestartRequired => (0x20, "restart required", "RESTART_REQUIRED"),
            ServiceStatus::Healthy => (0x21, "healthy", "HEALTHY"),
            ServiceStatus::Upgrading => (0x22, "upgrading", "UPGRADING"),
            ServiceStatus::Restarting => (0x23, "restarting", "RESTARTING"),
        }
    }

    pub fn code(self) -> i32 {
        self.row().0
    }
    pub fn description(self) -> &'static str {
        self.row().1
    }
    pub fn api_status(self) -> &'static str {
        self.row().2
    }

    pub fn from_code(code: i32) -> Option<ServiceStatus> {
        ALL_SERVICE_STATUSES.into_iter().find(|s| s.code() == code)
    }

    /// Parses a heartbeat's `service_status` (Trove's `from_description`).
    pub fn from_description(text: &str) -> Option<ServiceStatus> {
        ALL_SERVICE_STATUSES.into_iter().find(|s| s.description() == text)
    }

    /// Trove's `_service_is_active`: the create flow is done when the guest reports one of these.
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            ServiceStatus::Running | ServiceStatus::InstanceReady | ServiceStatus::Healthy
        )
    }

    /// Trove's `action_is_allowed`.
    pub fn allows_actions(self) -> bool {
        matches!(
            self,
            ServiceStatus::Running
                | ServiceStatus::Shutdown
                | ServiceStatus::Crashed
                | ServiceStatus::Blocked
                | ServiceStatus::Healthy
                | ServiceStatus::RestartRequired
        )
    }
}

/// Whether an instance's guest has prepared its datastore, so that a guest hosted again (its
/// host restarted) starts prepared: any task past BUILDING, or BUILDING with the service already
/// reported ready (a create stopped between seeing it healthy and clearing its task).
pub fn guest_was_prepared(task: Option<Task>, service: Option<ServiceStatus>) -> bool {
    task != Some(Task::Building) || service.is_some_and(ServiceStatus::is_ready)
}

/// What the status rules read about one instance.
#[derive(Debug, Clone)]
pub struct StatusInputs<'a> {
    pub task: Option<Task>,
    pub server_status: Option<&'a str>,
    pub service: Option<ServiceStatus>,
    /// Milliseconds since the last heartbeat.
    pub heartbeat_age_ms: i64,
    pub heartbeat_expiry_ms: i64,
    /// A backup of the instance is NEW or BUILDING.
    pub backup_running: bool,
}

impl<'a> StatusInputs<'a> {
    /// Trove's `validate_can_perform_action`, the one readiness rule of every action and guest
    /// call: no task, the server ACTIVE, no backup running, and the datastore in a state that
    /// allows actions.
    pub fn allows_actions(&self) -> bool {
        self.instance_is_idle() && self.effective_service().is_some_and(|s| s.allows_actions())
    }

    /// No task, no backup, and the server up: what is left to allow an action is the datastore.
    fn instance_is_idle(&self) -> bool {
        self.task.is_some_and(Task::is_idle) && self.server_status == Some("ACTIVE") && !self.backup_running
    }

    /// The status that stands in the way of an action, as Trove names it in its 422: the
    /// datastore's (`("datastore", "SHUTDOWN")`) when the instance is otherwise idle, else the
    /// instance's.
    pub fn blocking_status(&self) -> (&'static str, &'static str) {
        if !self.instance_is_idle() {
            return ("instance", self.api_status());
        }
        match self.effective_service() {
            Some(service) => ("datastore", service.api_status()),
            None => ("datastore", "UNKNOWN"),
        }
    }
}

impl StatusInputs<'_> {
    /// The service status after Trove's read-time heartbeat expiry.
    pub fn effective_service(&self) -> Option<ServiceStatus> {
        let expired = self.task.is_some_and(Task::is_idle)
            && self.service != Some(ServiceStatus::RestartRequired)
            && self.heartbeat_age_ms >= self.heartbeat_expiry_ms;
        if expired {
            Some(ServiceStatus::FailedTimeoutGuestagent)
        } else {
            self.service
        }
    }

    /// The API's `status` (Trove's `SimpleInstance.status`).
    pub fn api_status(&self) -> &'static str {
        let server = self.server_status.unwrap_or("SHUTDOWN");
        match self.task {
            None => "ERROR",
            Some(t) if t.is_error() => "ERROR",
            Some(Task::Building) => {
                if server == "ERROR" {
                    "ERROR"
                } else {
                    "BUILD"
                }
            }
            Some(Task::Rebooting) => "REBOOT",
            Some(Task::Resizing) => "RESIZE",
            Some(Task::Upgrading) => "UPGRADE",
            Some(Task::Rebuilding) => "REBUILD",
            Some(Task::RestartRequired) => "RESTART_REQUIRED",
            Some(Task::Promoting) => "PROMOTE",
            Some(Task::Ejecting) => "EJECT",
            Some(Task::Detaching) => "DETACH",
            Some(Task::Deleting) => match server {
                "ACTIVE" | "SHUTDOWN" | "DELETED" => "SHUTDOWN",
                _ => "ERROR",
            },
            Some(_) if self.backup_running => "BACKUP",
            Some(_) => match server {
                "BUILD" => "BUILD",
                "ERROR" => "ERROR",
                "REBOOT" => "REBOOT",
                "RESIZE" | "VERIFY_RESIZE" => "RESIZE",
                "ACTIVE" => "ACTIVE",
                "SHUTDOWN" => "SHUTDOWN",
                _ => "UNKNOWN",
            },
        }
    }

    /// The API's `operating_status`: blank unless the task is NONE and the server is ACTIVE.
    pub fn operating_status(&self) -> &'static str {
        if self.task != Some(Task::None) || self.server_status != Some("ACTIVE") {
            return "";
        }
        self.effective_service().map(|s| s.api_status()).unwrap_or("ERROR")
    }
}

#[cfg(test)]
mod tests;
