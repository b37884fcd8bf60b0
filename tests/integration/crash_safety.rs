//! Crash safety inside one process: a panic injected at each step of create, and a lost cast.

use crate::both_backends;
use crate::support::{eventually, Backend, TestApp};
use std::time::Duration;

/// The number of steps of the create flow (create_server … clear_task).
const CREATE_STEPS: i64 = 5;

async fn panic_at_every_create_step(backend: Backend) {
    for step in 0..CREATE_STEPS {
        let app = TestApp::start(backend, |c| {
            c.testing.enabled = true;
            c.testing.fail_at = format!("create:{step}:panic");
        })
        .await;
        let api = &app.api;
        let id = api.create(&format!("panic-{step}")).await;
        // The highest step seen so far: the flow never goes back.
        let last_step = std::cell::Cell::new(-1);
        let what = format!("the create finishes after a panic at step {step}");
        eventually(Duration::from_secs(30), &what, || async {
            let create = api
                .flows(&id)
                .await
                .into_iter()
                .find(|f| f.0 == "create")
                .expect("create flow");
            assert!(
                create.1 >= last_step.get(),
                "step {} went back to {} (panic at {step})",
                last_step.get(),
                create.1
            );
            last_step.set(create.1);
            if create.2 == "done" {
                Ok(())
            } else {
                Err(create)
            }
        })
        .await;
        assert_eq!(last_step.get(), CREATE_STEPS - 1, "the flow ended at its last step");
        let view = api.wait_active(&id).await;
        assert_eq!(view["status"], "ACTIVE");
        let events = api.events().await;
        let mine = |event: &str| {
            events
                .iter()
                .filter(|e| e["kind"] == "instance" && e["actor_id"] == id.as_str() && e["event"] == event)
                .count()
        };
        assert!(
            mine("failed") >= 1,
            "the panic at step {step} is a supervision failure: {events:?}"
        );
        assert!(
            mine("restarting") >= 1,
            "the InstanceActor was restarted after the panic at step {step}"
        );
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "failed" && e["reason"].as_str().is_some_and(|r| r.contains("injected panic"))),
            "the failure reason names the panic"
        );
        assert_eq!(
            api.actors("guest_session").await,
            vec![id.clone()],
            "exactly one guest session"
        );
    }
}
both_backends!(panic_at_every_create_step);

async fn restart_count_is_visible_while_the_actor_lives(backend: Backend) {
    // An error (not a panic) at the prepare wait keeps failing for a while: the actor is alive
    // and restarting, and /mgmt/actors shows its restart count going up.
    let app = TestApp::start(backend, |c| {
        c.testing.enabled = true;
        c.testing.fail_at = "create:3:error".into();
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(1_500);
        c.taskmanager.retry_backoff_ms = std::time::Duration::from_millis(300);
    })
    .await;
    let api = &app.api;
    let id = api.create("counted").await;
    let what = format!("a restart of instance actor {id}");
    eventually(Duration::from_secs(20), &what, || async {
        let (_, body) = api.get("/mgmt/actors?kind=instance").await;
        let restarts = body["actors"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["id"] == id.as_str()))
            .and_then(|a| a["restarts"].as_u64());
        if restarts.is_some_and(|r| r >= 1) {
            Ok(())
        } else {
            Err(body)
        }
    })
    .await;
    api.wait_active(&id).await;
}
both_backends!(restart_count_is_visible_while_the_actor_lives);

async fn lost_cast_is_found_by_the_scan(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.testing.enabled = true;
        c.testing.fail_at = "create:0:drop_cast".into();
        c.taskmanager.scan_interval_s = std::time::Duration::from_secs_f64(1.0);
    })
    .await;
    let api = &app.api;
    let id = api.create("lost-cast").await;
    api.wait_active(&id).await;
    assert_eq!(
        app.node.services.faults.fired("drop_cast"),
        1,
        "the create's cast really was dropped: the scan found the flow"
    );
}
both_backends!(lost_cast_is_found_by_the_scan);
