//! What the write handlers share once their intent is recorded: waking the task manager for a
//! flow (a cast on `taskmanager`), and the durations they record deadlines and expiries in.

use super::AppState;
use crate::bus;
use crate::db::models::flow::Flow;
use crate::testing::Fault;

pub(super) fn ms(duration: std::time::Duration) -> i64 {
    duration.as_millis() as i64
}

pub(super) fn expiry_ms(state: &AppState) -> i64 {
    ms(state.services.config.guest.heartbeat_expiry_s)
}

/// Wakes the task manager for a recorded flow. A failed (or test-dropped) cast only delays the
/// work: the task manager's scan finds the flow.
pub(super) async fn cast_flow(state: &AppState, flow: &Flow) {
    let services = &state.services;
    let Some(kind) = flow.flow_kind() else { return };
    let method = kind.method();
    if services
        .faults
        .take(&flow.kind, &flow.id, 0, &[Fault::DropCast])
        .is_some()
    {
        tracing::warn!(flow.id = %flow.id, "test fault: dropping the {method} cast");
        return;
    }
    let mut envelope = crate::flows::WakeUp::envelope(kind, &flow.target_id);
    envelope.context.global_request_id = flow.request_id.clone();
    if let Err(e) = services.bus.cast(bus::TASKMANAGER, envelope).await {
        crate::telemetry::warn_limited(
            "task manager cast",
            &format!(
                "cast {method} of flow {} failed, the scan will find the flow: {e}",
                flow.id
            ),
        );
    }
}
