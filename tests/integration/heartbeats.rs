//! Heartbeats through the bus: the stale check, expiry when a guest goes silent, and signed
//! guest messages (unsigned or another instance's signature rejected, both ways).

use crate::both_backends;
use crate::support::{eventually, Backend, TestApp};
use coffer::bus::signing;
use coffer::bus::{self, BusError, Envelope};
use coffer::compute::messages::DeleteServer;
use coffer::db::models::service_status::ServiceStatusRow;
use coffer::status::ServiceStatus;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn heartbeat(id: &str, status: &str, sent: f64) -> Envelope {
    let args = json!({"instance_id": id, "payload": {"service_status": status}, "sent": sent});
    Envelope::new("heartbeat", args)
}

/// Casts a heartbeat signed with the instance's own key, as its guest would.
async fn cast_heartbeat(app: &TestApp, id: &str, status: &str, sent: f64) {
    let mut envelope = heartbeat(id, status, sent);
    let key = app.guest_key(id).await;
    signing::sign(&mut envelope, id, &key);
    app.node
        .services
        .bus
        .cast(bus::CONDUCTOR, envelope)
        .await
        .expect("cast");
}

/// Heartbeats the conductor dropped: stale, or superseded in their batch by a newer one.
fn dropped(app: &TestApp) -> i64 {
    let m = &app.node.services.metrics;
    m.heartbeats_stale.load(Ordering::Relaxed) + m.heartbeats_coalesced.load(Ordering::Relaxed)
}

/// Waits until the conductor has dropped `n` more heartbeats than `before`.
async fn wait_stale(app: &TestApp, before: i64, n: i64) {
    eventually(
        Duration::from_secs(10),
        "the conductor drops the stale heartbeats",
        || async {
            let seen = dropped(app);
            if seen >= before + n {
                Ok(())
            } else {
                Err(seen)
            }
        },
    )
    .await
}

async fn stale_heartbeats_change_nothing(backend: Backend) {
    // Slow heartbeats from the guest itself, so the test's own messages decide.
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(3600.0)
    })
    .await;
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

    let stale = dropped(&app);
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

/// The stored status of `id`.
async fn status_row(app: &TestApp, id: &str) -> ServiceStatusRow {
    let id = id.to_string();
    let row = app.node.services.db.run(move |c| ServiceStatusRow::find(c, &id)).await;
    row.expect("db").expect("a status row")
}

async fn stored_status(app: &TestApp, id: &str) -> Option<ServiceStatus> {
    status_row(app, id).await.status()
}

/// Waits until the newest applied heartbeat of `id` is the one sent at `sent`.
async fn wait_applied(app: &TestApp, id: &str, sent: f64) {
    eventually(Duration::from_secs(10), "the heartbeat is applied", || async {
        match app.last_heartbeat_sent(id).await {
            Some(applied) if applied == sent => Ok(()),
            other => Err(other),
        }
    })
    .await
}

async fn heartbeats_keep_trove_rules_for_sticky_unknown_and_unsent(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(3600.0)
    })
    .await;
    let id = app.api.create("sticky").await;
    app.api.wait_active(&id).await;
    let set = |status: ServiceStatus| {
        let id = id.clone();
        app.node.services.db.run(move |c| ServiceStatusRow::set(c, &id, status))
    };
    let future = chrono::Utc::now().timestamp() as f64 + 10_000.0;

    // RESTART_REQUIRED stays until a restart clears it; the heartbeat still counts as the
    // newest seen, so an older one after it is stale.
    set(ServiceStatus::RestartRequired).await.expect("db");
    cast_heartbeat(&app, &id, "healthy", future).await;
    wait_applied(&app, &id, future).await;
    assert_eq!(stored_status(&app, &id).await, Some(ServiceStatus::RestartRequired));

    // A status this conductor does not know changes nothing but the newest `sent`.
    set(ServiceStatus::Shutdown).await.expect("db");
    cast_heartbeat(&app, &id, "no such status", future + 1.0).await;
    wait_applied(&app, &id, future + 1.0).await;
    assert_eq!(stored_status(&app, &id).await, Some(ServiceStatus::Shutdown));

    // One without `sent` cannot be checked: it is applied (Trove logs it), and moves no `sent`.
    let mut unsent = Envelope::new(
        "heartbeat",
        json!({"instance_id": id, "payload": {"service_status": "healthy"}}),
    );
    let key = app.guest_key(&id).await;
    signing::sign(&mut unsent, &id, &key);
    app.node.services.bus.cast(bus::CONDUCTOR, unsent).await.expect("cast");
    eventually(Duration::from_secs(10), "the unsent heartbeat's status", || async {
        match stored_status(&app, &id).await {
            Some(ServiceStatus::Healthy) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(app.last_heartbeat_sent(&id).await, Some(future + 1.0));

    // And an older one than the newest applied is still dropped.
    let stale = dropped(&app);
    cast_heartbeat(&app, &id, "shutdown", future + 0.5).await;
    wait_stale(&app, stale, 1).await;
    assert_eq!(stored_status(&app, &id).await, Some(ServiceStatus::Healthy));
}
both_backends!(heartbeats_keep_trove_rules_for_sticky_unknown_and_unsent);

async fn a_deleted_instance_takes_no_heartbeat(backend: Backend) {
    // Unsigned guest messages, so that a late heartbeat reaches the write (signed, it would be
    // refused sooner: a deleted instance's key verifies nothing).
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(3600.0);
        c.bus.sign_guest_messages = false;
    })
    .await;
    let id = app.api.create("late").await;
    app.api.wait_active(&id).await;
    let (status, body) = app.api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202, "{body}");
    app.api.wait_gone(&id).await;
    assert_eq!(stored_status(&app, &id).await, Some(ServiceStatus::Deleted));

    let future = chrono::Utc::now().timestamp() as f64 + 10_000.0;
    let stale = dropped(&app);
    let late = heartbeat(&id, "healthy", future);
    app.node.services.bus.cast(bus::CONDUCTOR, late).await.expect("cast");
    wait_stale(&app, stale, 1).await;
    let applied = app.node.services.metrics.heartbeats_applied.load(Ordering::Relaxed);
    let unsent = Envelope::new(
        "heartbeat",
        json!({"instance_id": id, "payload": {"service_status": "healthy"}}),
    );
    app.node.services.bus.cast(bus::CONDUCTOR, unsent).await.expect("cast");
    // A marker cast after it, for an instance with no row (counted stale): once it is counted,
    // the conductor has handled the unsent heartbeat too (batches are applied in order).
    let stale = dropped(&app);
    let marker = heartbeat(&uuid::Uuid::new_v4().to_string(), "healthy", future);
    app.node.services.bus.cast(bus::CONDUCTOR, marker).await.expect("cast");
    wait_stale(&app, stale, 1).await;
    assert_eq!(
        app.node.services.metrics.heartbeats_applied.load(Ordering::Relaxed),
        applied,
        "a heartbeat without sent was applied to a deleted instance"
    );
    assert_eq!(stored_status(&app, &id).await, Some(ServiceStatus::Deleted));
}
both_backends!(a_deleted_instance_takes_no_heartbeat);

async fn silent_guest_expires(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(0.5);
        c.guest.heartbeat_expiry_s = std::time::Duration::from_secs_f64(3.0);
        c.conductor.expiry_sweep_interval_s = std::time::Duration::from_secs_f64(0.5);
    })
    .await;
    let id = app.api.create("silent").await;
    app.api.wait_active(&id).await;
    // The server dies behind coffer's back: no more heartbeats.
    let compute = app.node.compute.clone().expect("compute");
    compute
        .send(DeleteServer {
            instance_id: id.as_str().into(),
        })
        .await
        .expect("compute answers")
        .expect("server deleted");
    let last_beat = status_row(&app, &id).await.updated_at;
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
    let row = eventually(Duration::from_secs(10), "the expiry is stored", || async {
        let row = status_row(&app, &id).await;
        if row.status() == Some(ServiceStatus::FailedTimeoutGuestagent) {
            Ok(row)
        } else {
            Err(row)
        }
    })
    .await;
    assert!(
        row.updated_at <= last_beat + 1_000,
        "expiry keeps the last heartbeat's time"
    );
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

async fn unsigned_and_foreign_guest_messages_are_rejected(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(3600.0)
    })
    .await;
    let (a, b) = (app.api.create("signed-a").await, app.api.create("signed-b").await);
    app.api.wait_active(&a).await;
    app.api.wait_active(&b).await;
    let (key_a, key_b) = (app.guest_key(&a).await, app.guest_key(&b).await);
    assert_ne!(key_a.to_base64(), key_b.to_base64(), "each instance has its own key");
    let services = &app.node.services;
    let rejected = || services.metrics.messages_rejected.load(Ordering::Relaxed);
    let future = chrono::Utc::now().timestamp() as f64 + 10_000.0;

    // To the conductor: unsigned; signed by b's key about a (as b); signed by b's key claiming a.
    let unsigned = heartbeat(&a, "shutdown", future);
    let mut as_b = heartbeat(&a, "shutdown", future + 1.0);
    signing::sign(&mut as_b, &b, &key_b);
    let mut claims_a = heartbeat(&a, "shutdown", future + 2.0);
    signing::sign(&mut claims_a, &a, &key_b);
    for forged in [unsigned, as_b, claims_a] {
        services.bus.cast(bus::CONDUCTOR, forged).await.expect("cast");
    }
    eventually(Duration::from_secs(10), "3 forged heartbeats rejected", || async {
        let seen = rejected();
        if seen >= 3 {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await;
    // The conductor goes on: a's own signed heartbeat applies, and nothing forged did.
    cast_heartbeat(&app, &a, "shutdown", future + 3.0).await;
    app.api
        .wait_for(&a, Duration::from_secs(10), "SHUTDOWN", |v| {
            v.is_some_and(|v| v["operating_status"] == "SHUTDOWN")
        })
        .await;
    let last = app.last_heartbeat_sent(&a).await;
    assert_eq!(last, Some(future + 3.0), "no forged heartbeat was applied");

    // To a guest: a call signed with another instance's key, an unsigned one, one issued too long
    // ago, and a replayed one are refused; a fresh call signed with its own key is answered.
    let call = |envelope: Envelope| {
        let bus = services.bus.clone();
        let topic = bus::guest_topic(&a);
        async move { bus.call(&topic, envelope, Duration::from_secs(5)).await }
    };
    let mut foreign = Envelope::new("list_databases", json!({}));
    signing::sign(&mut foreign, &a, &key_b);
    for refused in [foreign, Envelope::new("list_databases", json!({}))] {
        match call(refused).await {
            Err(BusError::Remote(text)) => assert!(text.contains("rejected"), "{text}"),
            other => panic!("a forged call was answered: {other:?}"),
        }
    }
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let signed_at = |issued: f64, request: &str| {
        let mut e = Envelope::new("list_databases", json!({}));
        e.context.request_id = request.into();
        e.context.issued = Some(issued);
        signing::sign(&mut e, &a, &key_a);
        e
    };
    let own = signed_at(now, "req-test-1");
    call(own.clone())
        .await
        .expect("a call signed with the instance's key is answered");
    let stale = signed_at(now - 3600.0, "req-test-2");
    for refused in [own, stale] {
        match call(refused).await {
            Err(BusError::Remote(text)) => assert!(text.contains("rejected"), "{text}"),
            other => panic!("a replayed or stale call was answered: {other:?}"),
        }
    }
    // A call whose "sealed" flag was stripped on the way does not verify (else its passwords
    // would be taken as they are: sealed text an eavesdropper saw).
    let mut stripped = Envelope::new("create_user", json!({"users": [{"name": "u", "password": "pw"}]}));
    stripped.context.request_id = "req-test-3".into();
    stripped.context.issued = Some(now);
    signing::sign(&mut stripped, &a, &key_a);
    assert!(stripped.context.sealed);
    stripped.context.sealed = false;
    match call(stripped).await {
        Err(BusError::Remote(text)) => assert!(text.contains("rejected"), "{text}"),
        other => panic!("a call with its sealed flag stripped was answered: {other:?}"),
    }
}
both_backends!(unsigned_and_foreign_guest_messages_are_rejected);

async fn guests_beat_every_interval(backend: Backend) {
    // Past its expiry many times over, a live guest stays healthy: it beats every interval
    // (its host's heartbeat wheel tells it to), with nothing cast by the test.
    let app = TestApp::start(backend, |c| {
        c.guest.heartbeat_interval_s = Duration::from_secs_f64(0.5);
        c.guest.heartbeat_expiry_s = Duration::from_secs_f64(2.0);
        c.conductor.expiry_sweep_interval_s = Duration::from_secs_f64(0.5);
    })
    .await;
    let ids = [app.api.create("beating-a").await, app.api.create("beating-b").await];
    for id in &ids {
        app.api.wait_active(id).await;
    }
    let applied = || app.node.services.metrics.heartbeats_applied.load(Ordering::Relaxed);
    let before = applied();
    let mut beats_of = Vec::new();
    for id in &ids {
        beats_of.push(status_row(&app, id).await.updated_at);
    }
    // Three expiry periods: a guest that did not beat on its own would be ERROR by now.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (id, first) in ids.iter().zip(beats_of) {
        let view = app.api.instance(id).await.expect("exists");
        assert_eq!(view["operating_status"], "HEALTHY", "{id} kept beating: {view}");
        let last = status_row(&app, id).await.updated_at;
        assert!(last > first, "{id}'s heartbeats were applied: {first} -> {last}");
    }
    let beats = applied() - before;
    assert!(
        beats >= 8,
        "two guests beating every 0.5 s for 6 s: {beats} heartbeats applied"
    );
}
both_backends!(guests_beat_every_interval);
