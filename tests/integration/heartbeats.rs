//! Heartbeats through the bus: the stale check, and expiry when a guest goes silent.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use coffer::actors::compute::DeleteServer;
use coffer::bus::{self, Envelope};
use coffer::db::models::service_status::ServiceStatusRow;
use coffer::status::ServiceStatus;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

async fn cast_heartbeat(app: &TestApp, id: &str, status: &str, sent: f64) {
    let args = json!({"instance_id": id, "payload": {"service_status": status}, "sent": sent});
    app.node
        .services
        .bus
        .cast(bus::CONDUCTOR, Envelope::new("heartbeat", args))
        .await
        .expect("cast");
}

/// Waits until the conductor has dropped `n` more stale heartbeats than `before`.
async fn wait_stale(app: &TestApp, before: i64, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.node.services.metrics.heartbeats_stale.load(Ordering::Relaxed) < before + n {
        assert!(
            Instant::now() < deadline,
            "the conductor did not process the stale heartbeat"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn stale_heartbeats_change_nothing(backend: Backend) {
    // Slow heartbeats from the guest itself, so the test's own messages decide.
    let app = TestApp::start(backend, |c| c.guest.heartbeat_interval_s = 3600.0).await;
    let id = app.api.create("stale").await;
    app.api.wait_active(&id).await;

    let future = chrono::Utc::now().timestamp() as f64 + 10_000.0;
    cast_heartbeat(&app, &id, "shutdown", future).await;
    app.api
        .wait_for(&id, Duration::from_secs(10), "SHUTDOWN", |v| {
            v.is_some_and(|v| v["operating_status"] == "SHUTDOWN")
        })
        .await;
    let before_stale = app.api.instance(&id).await.expect("exists");

    let stale = app.node.services.metrics.heartbeats_stale.load(Ordering::Relaxed);
    cast_heartbeat(&app, &id, "healthy", future).await; // equal sent
    cast_heartbeat(&app, &id, "healthy", future - 1.0).await; // older sent
    wait_stale(&app, stale, 2).await;
    let after = app.api.instance(&id).await.expect("exists");
    assert_eq!(
        after["operating_status"], "SHUTDOWN",
        "an older or equal heartbeat changed the status"
    );
    assert_eq!(after["service_status_updated"], before_stale["service_status_updated"]);

    cast_heartbeat(&app, &id, "healthy", future + 1.0).await;
    app.api
        .wait_for(&id, Duration::from_secs(10), "HEALTHY again", |v| {
            v.is_some_and(|v| v["operating_status"] == "HEALTHY")
        })
        .await;
}
both_backends!(stale_heartbeats_change_nothing);

async fn silent_guest_expires(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = 0.5;
        c.guest.heartbeat_expiry_s = 3.0;
        c.conductor.expiry_sweep_interval_s = 0.5;
    })
    .await;
    let id = app.api.create("silent").await;
    app.api.wait_active(&id).await;
    // The server dies behind coffer's back: no more heartbeats.
    let compute = app.node.compute.clone().expect("compute");
    compute
        .send(DeleteServer {
            instance_id: id.clone(),
        })
        .await
        .expect("compute answers");
    let last_beat = {
        let lookup = id.clone();
        let row = app
            .node
            .services
            .db
            .run(move |c| ServiceStatusRow::find(c, &lookup))
            .await
            .expect("db");
        row.expect("status row").updated_at
    };
    let expired = app
        .api
        .wait_for(&id, Duration::from_secs(20), "operating_status ERROR", |v| {
            v.is_some_and(|v| v["operating_status"] == "ERROR")
        })
        .await
        .expect("exists");
    assert_eq!(
        expired["status"], "ACTIVE",
        "status stays ACTIVE while operating_status is ERROR"
    );
    let lookup = id.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lookup = lookup.clone();
        let row = app
            .node
            .services
            .db
            .run(move |c| ServiceStatusRow::find(c, &lookup))
            .await
            .expect("db")
            .expect("row");
        if row.status() == Some(ServiceStatus::FailedTimeoutGuestagent) {
            assert!(
                row.updated_at <= last_beat + 1_000,
                "expiry keeps the last heartbeat's time"
            );
            break;
        }
        assert!(Instant::now() < deadline, "expiry was never stored: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = app.api.instance(&id).await.expect("exists");
    let shown = chrono::NaiveDateTime::parse_from_str(
        view["service_status_updated"].as_str().expect("time"),
        "%Y-%m-%dT%H:%M:%S",
    )
    .expect("timestamp");
    let last = chrono::DateTime::from_timestamp_millis(last_beat)
        .expect("ms")
        .naive_utc();
    assert!(
        (shown - last).num_seconds().abs() <= 1,
        "service_status_updated {shown} is the last heartbeat {last}"
    );
}
both_backends!(silent_guest_expires);
