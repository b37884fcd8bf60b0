//! The status rules against Trove's: `status` and `operating_status`, heartbeat expiry, the
//! readiness rule's 422, and the codes' round trip.

use super::*;

fn inputs(task: Task, server: &str, service: ServiceStatus, age: i64) -> StatusInputs<'_> {
    StatusInputs {
        task: Some(task),
        server_status: Some(server),
        service: Some(service),
        heartbeat_age_ms: age,
        heartbeat_expiry_ms: 90_000,
        backup_running: false,
    }
}

#[test]
fn trove_status_rules() {
    assert_eq!(
        inputs(Task::Building, "BUILD", ServiceStatus::New, 0).api_status(),
        "BUILD"
    );
    assert_eq!(
        inputs(Task::Building, "ERROR", ServiceStatus::New, 0).api_status(),
        "ERROR"
    );
    assert_eq!(
        inputs(Task::BuildingErrorTimeoutGa, "ACTIVE", ServiceStatus::New, 0).api_status(),
        "ERROR"
    );
    assert_eq!(
        inputs(Task::Rebooting, "ACTIVE", ServiceStatus::Restarting, 0).api_status(),
        "REBOOT"
    );
    assert_eq!(
        inputs(Task::Deleting, "ACTIVE", ServiceStatus::Healthy, 0).api_status(),
        "SHUTDOWN"
    );
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Healthy, 0).api_status(),
        "ACTIVE"
    );
    assert_eq!(
        inputs(Task::None, "SHUTOFF", ServiceStatus::Healthy, 0).api_status(),
        "UNKNOWN"
    );
    assert_eq!(
        inputs(Task::Building, "BUILD", ServiceStatus::New, 0).operating_status(),
        ""
    );
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Healthy, 0).operating_status(),
        "HEALTHY"
    );
}

#[test]
fn expired_heartbeat_reads_as_error_but_restart_required_is_sticky() {
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Healthy, 90_000).operating_status(),
        "ERROR"
    );
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::RestartRequired, 900_000).operating_status(),
        "RESTART_REQUIRED"
    );
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Healthy, 90_000).api_status(),
        "ACTIVE"
    );
}

#[test]
fn the_blocking_status_names_the_instance_or_its_datastore() {
    // A task in flight: the instance's status.
    assert_eq!(
        inputs(Task::Rebooting, "ACTIVE", ServiceStatus::Healthy, 0).blocking_status(),
        ("instance", "REBOOT")
    );
    // Idle with its server up, but the datastore stopped: the datastore's.
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Paused, 0).blocking_status(),
        ("datastore", "SHUTDOWN")
    );
    // A heartbeat too old reads as the guest agent's failure.
    assert_eq!(
        inputs(Task::None, "ACTIVE", ServiceStatus::Healthy, 90_000).blocking_status(),
        ("datastore", "ERROR")
    );
}

#[test]
fn codes_round_trip_and_are_unique() {
    for s in ALL_SERVICE_STATUSES {
        assert_eq!(ServiceStatus::from_code(s.code()), Some(s));
        assert_eq!(ServiceStatus::from_description(s.description()), Some(s));
    }
}
