//! What a guest sends to the conductor — heartbeats, faults, backup reports — signed under its
//! instance's key (unless `[bus] sign_guest_messages` is off), each with the `sent` time the
//! conductor's stale check orders them by.

use crate::bus::signing::{self, GuestKey};
use crate::bus::{self, Bus, Envelope};
use crate::db::models::backup::BackupReport;
use crate::guest::messages::{encode, FaultReport, Heartbeat, HeartbeatPayload};
use crate::ids::{BackupId, InstanceId};
use crate::storage::BackupStore;
use std::sync::Arc;

/// A guest's channel to the conductor.
#[derive(Clone)]
pub struct ConductorLink {
    pub bus: Bus,
    pub instance_id: InstanceId,
    pub key: Arc<GuestKey>,
    pub sign: bool,
}

/// Now, as Trove's `sent`: float seconds since the epoch.
pub fn sent_now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

impl ConductorLink {
    /// Trove's `heartbeat` with the datastore's status.
    pub async fn heartbeat(self, service_status: &str) {
        let args = Heartbeat {
            instance_id: self.instance_id.clone(),
            payload: HeartbeatPayload {
                service_status: Some(service_status.to_string()),
            },
            sent: Some(sent_now()),
        };
        self.cast("heartbeat", encode(&args)).await
    }

    /// A fault to store on the instance.
    pub async fn report_fault(self, message: String) {
        let args = FaultReport {
            instance_id: self.instance_id.clone(),
            message,
            sent: Some(sent_now()),
        };
        self.cast("report_fault", encode(&args)).await
    }

    /// Casts `method`; a failure is logged (the next heartbeat or report supersedes it).
    async fn cast(self, method: &'static str, args: serde_json::Value) {
        let mut envelope = Envelope::new(method, args);
        if self.sign {
            signing::sign(&mut envelope, &self.instance_id, &self.key);
        }
        if let Err(e) = self.bus.cast(bus::CONDUCTOR, envelope).await {
            crate::telemetry::warn_limited(
                "guest to conductor",
                &format!("{method} of {} not sent: {e}", self.instance_id),
            );
        }
    }
}

/// Casts one backup attempt's `update_backup` reports.
#[derive(Clone)]
pub struct BackupReporter {
    pub link: ConductorLink,
    pub store: BackupStore,
    pub backup_id: BackupId,
    pub attempt: i32,
}

impl BackupReporter {
    /// Casts `update_backup`: `report`'s state and figures, for this attempt, sent now.
    pub async fn send(self, mut report: BackupReport) {
        report.instance_id = self.link.instance_id.to_string();
        report.backup_id = self.backup_id.to_string();
        report.attempt = Some(self.attempt);
        report.sent = sent_now();
        self.link.cast("update_backup", encode(&report)).await;
    }
}
