//! The conductor's heartbeat batches: of each instance only the newest heartbeat is kept, its
//! stale check and status written in one transaction, and the batch's deliveries acknowledged
//! only after the commit.

use super::BatchError;
use crate::bus::Delivery;
use crate::db::models::service_status::{HeartbeatWrite, ServiceStatusRow};
use crate::db::{now_ms, write_tx, DbConn, DbError};
use crate::guest::messages::Heartbeat;
use crate::services::Services;
use crate::status::ServiceStatus;
use std::sync::atomic::Ordering;

/// A batch's heartbeats that passed their checks, with their deliveries.
pub(super) struct CheckedHeartbeats {
    pub(super) heartbeats: Vec<Heartbeat>,
    pub(super) deliveries: Vec<Delivery>,
}

/// Writes a batch's heartbeats in one transaction; their deliveries are acknowledged only after
/// the commit. On an error none of them is acknowledged: they are delivered again.
pub(super) async fn write_heartbeats(services: Services, checked: CheckedHeartbeats) -> Result<(), BatchError> {
    let CheckedHeartbeats { heartbeats, deliveries } = checked;
    if heartbeats.is_empty() {
        return Ok(());
    }
    let received = heartbeats.len() as i64;
    let heartbeats = coalesce(heartbeats);
    let coalesced = received - heartbeats.len() as i64;
    let ((applied, stale, lag, changed), took) = services
        .db
        .run(move |c| {
            // From the write lock taken (so another writer's turn is not counted) to the commit.
            let mut began = None;
            let written = write_tx(c, |c| {
                began = Some(std::time::Instant::now());
                apply_heartbeats(c, &heartbeats)
            })?;
            Ok::<_, DbError>((written, began.map(|b| b.elapsed()).unwrap_or_default()))
        })
        .await?;
    for d in deliveries {
        d.ack();
    }
    for instance_id in &changed {
        services.wakeups.wake(instance_id);
    }
    let m = &services.metrics;
    m.heartbeats_applied.fetch_add(applied, Ordering::Relaxed);
    m.heartbeats_stale.fetch_add(stale, Ordering::Relaxed);
    m.heartbeats_coalesced.fetch_add(coalesced, Ordering::Relaxed);
    m.heartbeat_batches.fetch_add(1, Ordering::Relaxed);
    m.heartbeat_write_us
        .fetch_add(took.as_micros() as i64, Ordering::Relaxed);
    m.heartbeat_lag_ms.store(lag, Ordering::Relaxed);
    Ok(())
}

/// Of each instance's heartbeats, the newest (by `sent`; the later of equals), sorted by
/// instance so that concurrent conductors on PostgreSQL take row locks in one order.
fn coalesce(mut heartbeats: Vec<Heartbeat>) -> Vec<Heartbeat> {
    // Stable: equal instances keep their arrival order, and the last of the newest wins.
    heartbeats.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let mut newest: Vec<Heartbeat> = Vec::with_capacity(heartbeats.len());
    for hb in heartbeats {
        match newest.last_mut() {
            Some(last) if last.instance_id == hb.instance_id => {
                let newer = match (hb.sent, last.sent) {
                    (Some(a), Some(b)) => a >= b,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if newer {
                    *last = hb;
                }
            }
            _ => newest.push(hb),
        }
    }
    newest
}

/// Applies (coalesced) heartbeats in one transaction; returns (applied, stale, max lag in ms,
/// the instances whose status was written).
fn apply_heartbeats(conn: &mut DbConn, heartbeats: &[Heartbeat]) -> Result<(i64, i64, i64, Vec<String>), DbError> {
    let now = now_ms();
    let writes: Vec<HeartbeatWrite<'_>> = heartbeats
        .iter()
        .map(|hb| {
            let status = hb
                .payload
                .service_status
                .as_deref()
                .and_then(ServiceStatus::from_description);
            if status.is_none() {
                tracing::warn!(instance.id = %hb.instance_id, "heartbeat with unknown service status");
            }
            if hb.sent.is_none() {
                tracing::warn!(instance.id = %hb.instance_id, "heartbeat without sent; applied");
            }
            HeartbeatWrite {
                instance_id: hb.instance_id.as_str(),
                sent: hb.sent,
                status,
            }
        })
        .collect();
    let passed = ServiceStatusRow::apply_heartbeats(conn, &writes, now)?;
    let (mut stale, mut lag) = (0, 0);
    let mut written = Vec::with_capacity(writes.len());
    for (hb, passed) in writes.iter().zip(passed) {
        match (passed, hb.sent) {
            (true, Some(sent)) => lag = lag.max(now - (sent * 1000.0) as i64),
            (false, Some(_)) => stale += 1,
            _ => {}
        }
        if passed && hb.status.is_some() {
            written.push(hb.instance_id.to_string());
        }
    }
    Ok((written.len() as i64, stale, lag, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::messages::HeartbeatPayload;

    fn hb(instance_id: &str, sent: Option<f64>, status: &str) -> Heartbeat {
        Heartbeat {
            instance_id: instance_id.into(),
            payload: HeartbeatPayload {
                service_status: Some(status.into()),
            },
            sent,
        }
    }

    #[test]
    fn a_batch_keeps_each_instances_newest_heartbeat() {
        let batch = vec![
            hb("b", Some(2.0), "b2"),
            hb("a", Some(3.0), "a3"),
            hb("b", Some(1.0), "b1"),
            hb("a", Some(5.0), "a5"),
            hb("a", Some(4.0), "a4"),
            hb("c", None, "c-unsent"),
            hb("c", Some(1.0), "c1"),
            hb("b", Some(2.0), "b2-again"),
        ];
        let kept: Vec<(String, Option<String>)> = coalesce(batch)
            .into_iter()
            .map(|h| (h.instance_id.into_string(), h.payload.service_status))
            .collect();
        let want = [("a", "a5"), ("b", "b2-again"), ("c", "c1")];
        let want: Vec<(String, Option<String>)> =
            want.iter().map(|(i, s)| (i.to_string(), Some(s.to_string()))).collect();
        assert_eq!(kept, want);
    }
}
