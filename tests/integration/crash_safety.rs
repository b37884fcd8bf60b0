//! Crash safety inside one process: a panic injected at each step of create, and a lost cast.

use crate::both_backends;
use crate::support::{eventually, Backend, TestApp};
use serde_json::Value;
use std::time::Duration;

/// The number of steps of the create flow (create_server, prepare, wait_until_healthy).
const CREATE_STEPS: i64 = 3;

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
        c.testing.fail_at = "create:2:error".into();
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
    // The tree: the instance actor under its task manager, with its restart and the failure's
    // reason; its guest session under compute.
    let what = format!("instance actor {id} in the supervision tree");
    let tree = eventually(Duration::from_secs(20), &what, || async {
        let (_, body) = api.get("/mgmt/actors").await;
        let tree = body["tree"].clone();
        let under = |kind: &str| -> Vec<Value> {
            let parent = tree["children"]
                .as_array()
                .and_then(|c| c.iter().find(|n| n["kind"] == kind));
            parent
                .and_then(|p| p["children"].as_array().cloned())
                .unwrap_or_default()
        };
        let actor = under("task_manager")
            .into_iter()
            .find(|a| a["kind"] == "instance" && a["id"] == id.as_str());
        let session = under("compute")
            .into_iter()
            .any(|a| a["kind"] == "guest_session" && a["id"] == id.as_str());
        match actor {
            Some(actor) if session && actor["restarts"].as_u64() >= Some(1) => Ok((tree.clone(), actor)),
            _ => Err(body),
        }
    })
    .await;
    let (tree, actor) = tree;
    assert_eq!(tree["kind"], "system", "{tree}");
    // Actors fed by a bus topic show how many messages wait on it (the in-process bus counts
    // them); others show null.
    let component = |kind: &str| {
        tree["children"]
            .as_array()
            .and_then(|c| c.iter().find(|n| n["kind"] == kind).cloned())
            .unwrap_or_default()
    };
    assert!(component("task_manager")["mailbox_depth"].is_u64(), "{tree}");
    let session = component("compute")["children"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|a| a["kind"] == "guest_session" && a["id"] == id.as_str())
                .cloned()
        })
        .unwrap_or_default();
    assert!(
        session["mailbox_depth"].is_u64(),
        "a guest session's mailbox: {session}"
    );
    assert_eq!(
        actor.get("mailbox_depth"),
        Some(&Value::Null),
        "an instance actor has no topic: {actor}"
    );
    assert!(
        actor["last_failure"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("injected error")),
        "the last failure's reason: {actor}"
    );
    assert!(
        actor["last_failure"]["at"].as_str().is_some_and(|at| !at.is_empty()),
        "{actor}"
    );
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

/// A create recorded by a coffer that did not yet keep the datastore's manager and the
/// flavor's memory in the flow's state still completes: step 0 reads them from the instance,
/// and records them in the state it goes on with.
async fn a_create_recorded_without_manager_and_memory_completes(backend: Backend) {
    use coffer::db::models::flow::Flow;
    use coffer::db::schema::flows;
    use diesel::prelude::*;
    let app = TestApp::start(backend, |c| {
        c.testing.enabled = true;
        // Holds step 0 back (a panic, then a back-off) while the state is rewritten.
        c.testing.fail_at = "create:0:panic".into();
        c.taskmanager.retry_backoff_ms = Duration::from_secs(2);
    })
    .await;
    let api = &app.api;
    let id = api.create("older").await;
    let db = &app.node.services.db;
    let target = id.clone();
    let rewritten = db
        .run(move |c| {
            let flow = Flow::running_of_kind(c, &target, "create")?.expect("the create flow");
            assert_eq!(flow.step, 0, "step 0 has not run");
            let mut state: serde_json::Value = serde_json::from_str(&flow.state).expect("state JSON");
            assert_eq!(state["manager"], "simulated", "a create keeps its manager: {state}");
            assert!(
                state["memory_mb"].as_i64().is_some_and(|m| m > 0),
                "and its memory: {state}"
            );
            let fields = state.as_object_mut().expect("an object");
            fields.remove("manager");
            fields.remove("memory_mb");
            diesel::update(flows::table.find(&flow.id))
                .set(flows::state.eq(state.to_string()))
                .execute(c)?;
            Ok(flow.id)
        })
        .await
        .expect("state rewritten");
    api.wait_active(&id).await;
    let state = db
        .run(move |c| Flow::find(c, &rewritten))
        .await
        .expect("db")
        .expect("the flow")
        .state;
    let state: serde_json::Value = serde_json::from_str(&state).expect("state JSON");
    assert_eq!(state["manager"], "simulated", "step 0 found the manager: {state}");
    assert!(
        state["memory_mb"].as_i64().is_some_and(|m| m > 0),
        "and the flavor's memory: {state}"
    );
}
both_backends!(a_create_recorded_without_manager_and_memory_completes);

/// The flow row's guards, on the statements the runner uses (kept prepared, written by hand for
/// both backends): a flow moves only from the step and owner it expects, a claim takes only
/// what is free or expired, and an ended flow stays ended.
async fn flow_rows_move_only_from_where_they_are(backend: Backend) {
    use coffer::db::models::flow::{self, Flow};
    let test_db = crate::support::TestDb::new(backend);
    let db = coffer::db::Db::connect(&test_db.url, 2, Duration::from_secs(5)).expect("database");
    let mut conn = db.get_connection().expect("connection");
    let c = &mut *conn;
    let row = |id: &str, target: &str| Flow {
        id: id.into(),
        kind: "create".into(),
        target_id: target.into(),
        step: 0,
        state: "{}".into(),
        status: flow::RUNNING.into(),
        owner: None,
        lease_until: 0,
        deadline: i64::MAX,
        attempts: 0,
        last_error: None,
        created: 1,
        updated: 1,
        request_id: None,
    };
    row("f1", "t1").insert(c).expect("insert f1");
    row("f2", "t2").insert(c).expect("insert f2");
    let found = |c: &mut coffer::db::DbConn, id: &str| Flow::find(c, id).expect("read").expect("row");

    assert!(
        Flow::claim_target(c, "t1", "node-a", 60_000).expect("claim"),
        "unowned: claimed"
    );
    assert!(
        !Flow::claim_target(c, "t1", "node-b", 60_000).expect("claim"),
        "held: refused"
    );
    assert!(
        Flow::claim_target(c, "t1", "node-a", 60_000).expect("claim"),
        "its own: renewed"
    );
    assert_eq!(found(c, "f1").owner.as_deref(), Some("node-a"));
    assert_eq!(found(c, "f2").owner, None, "another target's flow is not claimed");
    assert!(
        !Flow::claim_target(c, "t9", "node-a", 60_000).expect("claim"),
        "nothing to claim"
    );

    // A failed attempt leaves its count and error, which a step forward clears.
    Flow::record_failure(c, "f1", "boom").expect("a failed attempt");

    assert!(
        !Flow::advance(c, "f1", "node-b", 0, 1, "{\"b\":1}").expect("advance"),
        "not its owner"
    );
    assert!(
        !Flow::advance(c, "f1", "node-a", 1, 2, "{\"a\":0}").expect("advance"),
        "not at that step"
    );
    assert!(Flow::advance(c, "f1", "node-a", 0, 1, "{\"a\":1}").expect("advance"));
    let f1 = found(c, "f1");
    assert_eq!((f1.step, f1.state.as_str(), f1.attempts), (1, "{\"a\":1}", 0));
    assert_eq!(f1.last_error, None);

    // An expired lease is taken over by another node; the first one can no longer move it.
    assert!(
        Flow::claim_target(c, "t2", "node-a", -1).expect("claim"),
        "claimed, already expired"
    );
    assert!(
        Flow::claim_target(c, "t2", "node-b", 60_000).expect("claim"),
        "expired: taken over"
    );
    assert!(
        !Flow::finish(c, "f2", "node-a", flow::DONE, None).expect("finish"),
        "taken over"
    );
    assert!(Flow::finish(c, "f2", "node-b", flow::FAILED, Some("it broke")).expect("finish"));
    let f2 = found(c, "f2");
    assert_eq!(
        (f2.status.as_str(), f2.last_error.as_deref()),
        (flow::FAILED, Some("it broke"))
    );

    assert!(
        !Flow::claim_target(c, "t2", "node-b", 60_000).expect("claim"),
        "ended: not claimed again"
    );

    // Ended without an error: the error of its last failed attempt does not stay.
    Flow::record_failure(c, "f1", "boom again").expect("a failed attempt");
    assert!(Flow::finish(c, "f1", "node-a", flow::DONE, None).expect("finish"));
    assert!(
        !Flow::finish(c, "f1", "node-a", flow::FAILED, Some("late")).expect("finish"),
        "ended"
    );
    assert!(
        !Flow::advance(c, "f1", "node-a", 1, 2, "{}").expect("advance"),
        "ended: stays"
    );
    let f1 = found(c, "f1");
    assert_eq!((f1.status.as_str(), f1.step, f1.last_error), (flow::DONE, 1, None));
}
both_backends!(flow_rows_move_only_from_where_they_are);
