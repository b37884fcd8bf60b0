//! How the conductor settles what it takes from RabbitMQ: one `multiple` ack per batch, each
//! delivery exactly once.

use super::{app_on_rabbitmq, BROKER};
use crate::support::eventually;
use coffer::bus::signing;
use coffer::bus::{self, Envelope};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The conductor's consumer settles a batch with one `multiple` ack, not a frame per message,
/// and a batch that mixes rejected messages with heartbeats settles each exactly once: the
/// channel stays up (settling a tag twice would close it, and what it held would come back).
#[actix_web::test]
async fn the_conductor_settles_a_batch_with_one_ack_frame_and_each_message_once() {
    let _turn = BROKER.lock().await;
    let app = app_on_rabbitmq(|c| {
        c.conductor.batch_linger_ms = Duration::from_millis(200);
        // Only the heartbeat at the end of prepare: the guest's own would be stale here.
        c.guest.heartbeat_interval_s = Duration::from_secs(3600);
    })
    .await;
    let api = &app.api;
    let a = api.create("acks-a").await;
    api.wait_active_within(&a, Duration::from_secs(60)).await;
    let services = &app.node.services;
    let m = &services.metrics;
    let key = app.guest_key(&a).await;
    let seen = || {
        m.heartbeats_applied.load(Ordering::Relaxed)
            + m.heartbeats_coalesced.load(Ordering::Relaxed)
            + m.heartbeats_stale.load(Ordering::Relaxed)
    };
    let (seen_before, rejected_before, stale_before) = (
        seen(),
        m.messages_rejected.load(Ordering::Relaxed),
        m.heartbeats_stale.load(Ordering::Relaxed),
    );
    let frames_before = coffer::bus::coalesced_settle_frames();
    // 400 messages cast at once, every 50th unsigned (rejected and answered), the rest signed
    // heartbeats with rising `sent`.
    let first = chrono::Utc::now().timestamp() as f64 + 10_000.0;
    let casts = (0..400).map(|k| {
        let args =
            json!({"instance_id": a, "payload": {"service_status": "healthy"}, "sent": first + k as f64 * 0.001});
        let mut envelope = Envelope::new("heartbeat", args);
        if k % 50 != 0 {
            signing::sign(&mut envelope, &a, &key);
        }
        let bus = services.bus.clone();
        async move { bus.cast(bus::CONDUCTOR, envelope).await.expect("cast") }
    });
    futures::future::join_all(casts).await;
    eventually(
        Duration::from_secs(30),
        "392 heartbeats and 8 rejections taken",
        || async {
            let (taken, rejected) = (
                seen() - seen_before,
                m.messages_rejected.load(Ordering::Relaxed) - rejected_before,
            );
            if taken >= 392 && rejected >= 8 {
                Ok(())
            } else {
                Err((taken, rejected))
            }
        },
    )
    .await;
    let frames = coffer::bus::coalesced_settle_frames() - frames_before;
    assert!(frames > 0, "the conductor's deliveries are settled through its ledger");
    assert!(
        frames <= 100,
        "400 deliveries settled with {frames} frames: acks are not coalesced"
    );
    // Nothing settled twice or left unsettled: no reconnect, so nothing is delivered again
    // (a heartbeat delivered again would be stale).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        m.heartbeats_stale.load(Ordering::Relaxed),
        stale_before,
        "no heartbeat came back"
    );
    let newest = first + 399.0 * 0.001;
    let applied = app.last_heartbeat_sent(&a).await;
    assert_eq!(applied, Some(newest), "the newest heartbeat is the one applied");
}
