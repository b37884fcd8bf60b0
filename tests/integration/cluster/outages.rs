//! What dies or goes away: the broker (creates in flight must wait it out, not fail), a guest
//! pool (its guests are re-hosted on a live one), a create that failed before it had a server
//! (its delete must not wait for a guest that never existed), and deleted instances' queues.

use super::*;
use crate::amqp::BROKER;
use crate::support::{Backend, TestDb};
use serde_json::json;

/// Runs `scripts/rabbitmq-test-server.sh <command>` on the private broker.
fn broker_script(command: &str) {
    let status = std::process::Command::new("bash")
        .args(["scripts/rabbitmq-test-server.sh", command])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run the broker script");
    assert!(status.success(), "rabbitmq-test-server.sh {command} failed");
}

/// Restarts the private broker (same ports, same durable queues).
fn restart_broker() {
    broker_script("restart")
}

/// Cuts every connection to the broker (the processes reconnect; unacknowledged messages are
/// given back to their queues).
fn close_connections() {
    broker_script("close-connections")
}

#[actix_web::test]
async fn creates_made_through_a_broker_restart_all_become_active() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 1000);
    let api = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let _task_manager = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    // Two pools: after the outage each guest must have exactly one of them.
    let _pool = start(&db, "guest --simulated 200", &env).await;
    let _second_pool = start(&db, "guest --simulated 200", &env).await;
    let api = &api.api;
    // 50 creates spread over the outage: some cast before it, some while the broker is down
    // (the API answers from the database; the scan finds their flows), some as it comes back.
    let restart = tokio::task::spawn_blocking(restart_broker);
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(api.create(&format!("through-{i}")).await);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    restart.await.expect("restart");
    wait_all_active(api, &ids, Duration::from_secs(180)).await;
    let (status, failed) = api.get("/mgmt/flows?status=failed").await;
    assert_eq!(status, 200);
    assert_eq!(failed["flows"], json!([]), "no flow gave up on the outage");
    // Exactly one consumer per guest, however the reconnects and re-hostings played out.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listed = tokio::task::spawn_blocking(queues).await.expect("queues");
    for id in &ids {
        let consumers = listed
            .iter()
            .find(|(n, ..)| n == &format!("guestagent.{id}"))
            .map(|q| q.1);
        assert_eq!(consumers, Some(1), "guest {id} has one host");
    }
    for id in &ids {
        assert_eq!(api.send("DELETE", &format!("/instances/{id}"), None).await.0, 202);
    }
    for id in &ids {
        api.wait_gone(id).await;
    }
    assert_no_guest_queues(&ids, Duration::from_secs(10)).await;
    // Expected conditions are not errors, and a repeated warning is not repeated 2,000 times.
    let errors: Vec<String> = log_lines(&db, "ERROR")
        .into_iter()
        .filter(|l| l.contains("coffer"))
        .collect();
    assert!(errors.is_empty(), "coffer logged errors: {errors:#?}");
    assert!(
        log_lines(&db, "NOT_FOUND").is_empty(),
        "no passive declare of a missing queue"
    );
    let warnings = log_lines(&db, "WARN");
    println!("{} warning lines over the outage", warnings.len());
    assert!(
        warnings.len() < 150,
        "{} warning lines: rate-limit repeated ones; the first: {:#?}",
        warnings.len(),
        &warnings[..40]
    );
}

/// The private broker's queue `name` as (consumers, messages), if it exists.
fn queue(name: &str) -> Option<(u64, u64)> {
    queues().into_iter().find(|q| q.0 == name).map(|q| (q.1, q.2))
}

#[actix_web::test]
async fn a_host_request_given_back_while_it_is_checked_is_not_lost() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let api = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let task_manager = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    let api = &api.api;
    // No pool yet: the create's host_guest waits in the pools' queue.
    let id = api.create("given-back").await;
    let waiting = |name: &'static str| async move {
        eventually(Duration::from_secs(30), name, || async {
            match tokio::task::spawn_blocking(move || queue(name)).await.expect("queues") {
                Some((_, messages)) if messages > 0 => Ok(()),
                seen => Err(seen),
            }
        })
        .await
    };
    waiting("guestpool").await;
    // The task manager stops answering: the pool that takes the request asks it whether the
    // guest is still wanted and waits (10 s) for the answer.
    task_manager.signal(libc::SIGSTOP);
    let _pool = start(&db, "guest --simulated 10", &env).await;
    waiting("taskmanager").await;
    let asked = Instant::now();
    // The pool's connection is cut while it waits: the broker gives the request back, and the
    // reconnected pool receives it again while the first check is still in flight.
    tokio::task::spawn_blocking(close_connections).await.expect("close");
    // The task manager answers again once the first check has timed out for good.
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(asked.elapsed())).await;
    task_manager.signal(libc::SIGCONT);
    wait_all_active(api, std::slice::from_ref(&id), Duration::from_secs(40)).await;
    let hosts = tokio::task::spawn_blocking(move || queue(&format!("guestagent.{id}")))
        .await
        .expect("queues");
    assert_eq!(hosts.map(|q| q.0), Some(1), "the guest has one host");
}

#[actix_web::test]
async fn a_killed_pools_guests_are_hosted_again_by_a_live_pool() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let api = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let _task_manager = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    let first = start(&db, "guest --simulated 100", &env).await;
    let api = &api.api;
    let ids = create_many(api, "hosted", 30).await;
    wait_all_active(api, &ids, Duration::from_secs(60)).await;
    let _second = start(&db, "guest --simulated 100", &env).await;
    // The pool's row counts its guests at its next report: wait for both pools and the count.
    let first_pid = first.pid();
    let list = wait_services(
        api,
        Duration::from_secs(10),
        "two pools up, the first hosting 30",
        |l| {
            up(l, "guest_pool").len() == 2
                && l.iter()
                    .any(|s| s["role"] == "guest_pool" && s["pid"] == first_pid && s["hosted"] == 30)
        },
    )
    .await;
    let first_row = list
        .iter()
        .find(|s| s["role"] == "guest_pool" && s["pid"] == first.pid())
        .cloned()
        .expect("the first pool is listed");
    assert_eq!(first_row["hosted"], 30, "the first pool hosts all 30: {first_row}");
    assert_eq!(first_row["capacity"], 100, "{first_row}");

    let killed_at = Instant::now();
    first.kill9();
    // While orphaned, a guest call fails fast instead of waiting out its timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let (status, _) = api.get(&format!("/instances/{}/databases", ids[0])).await;
    let took = asked.elapsed();
    if status != 200 {
        assert_eq!(status, 503, "an orphaned guest is unavailable");
        assert!(
            took < Duration::from_secs(1),
            "a call to a guest nobody serves took {took:?}"
        );
    }
    // heartbeat_expiry_s is 10: every guest is healthy again, on the second pool, within 20 s.
    let after = chrono::Utc::now().naive_utc();
    let within = Duration::from_secs(20).saturating_sub(killed_at.elapsed());
    eventually(within, "every guest healthy again after its pool died", || async {
        let mut healed = 0;
        for id in &ids {
            let view = api.instance(id).await.expect("view");
            let updated = view["service_status_updated"].as_str().unwrap_or_default();
            let fresh = chrono::NaiveDateTime::parse_from_str(updated, "%Y-%m-%dT%H:%M:%S").is_ok_and(|t| t >= after);
            if fresh && view["operating_status"] == "HEALTHY" {
                healed += 1;
            }
        }
        if healed == ids.len() {
            Ok(())
        } else {
            Err(format!(
                "{healed}/{} healthy {:?} after the kill",
                ids.len(),
                killed_at.elapsed()
            ))
        }
    })
    .await;
    println!(
        "all {} guests re-hosted and healthy {:?} after the pool's SIGKILL",
        ids.len(),
        killed_at.elapsed()
    );
    let list = wait_services(api, Duration::from_secs(10), "the killed pool down", |l| {
        l.iter().any(|s| s["pid"] == first_row["pid"] && s["state"] == "down")
            && up(l, "guest_pool").iter().any(|s| s["hosted"] == 30)
    })
    .await;
    assert_eq!(up(&list, "guest_pool").len(), 1, "{list:#?}");
    let rehosted = api
        .wait_event(Duration::from_secs(5), "of the re-hosting", |e| {
            e["event"] == "rehosted"
        })
        .await;
    assert!(
        rehosted["reason"].as_str().is_some_and(|r| r.contains("tm-a")),
        "{rehosted}"
    );
    // The guests answer calls again.
    let (status, body) = api.get(&format!("/instances/{}/databases", ids[0])).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn a_create_that_failed_before_it_had_a_server_is_deleted_at_once() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    // No usable address: a PostgreSQL create fails before any server or guest exists.
    let env = with(&cluster_env(&db, 200), "COFFER_COMPUTE_ADDRESS_POOL", "10.255.255.0/30");
    let api = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let _task_manager = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    let api = &api.api;
    let (id, _) = crate::datastores::create(api, "postgresql", json!({})).await;
    api.wait_for(&id, Duration::from_secs(30), "ERROR", |v| {
        v.is_some_and(|v| v["status"] == "ERROR")
    })
    .await;
    let asked = Instant::now();
    let (status, body) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202, "{body}");
    api.wait_for(&id, Duration::from_secs(5), "gone within 5 s", |v| v.is_none())
        .await;
    println!("deleted {:?} after the request", asked.elapsed());
    let flows = api.flows(&id).await;
    let delete = flows.iter().find(|f| f.0 == "delete").expect("a delete flow");
    assert_eq!(delete.2, "done", "{flows:?}");
    assert_no_guest_queues(std::slice::from_ref(&id), Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn deleted_instances_leave_no_queue_behind() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 100);
    let api = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let _task_manager = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    let _pool = start(&db, "guest --simulated 50", &env).await;
    let api = &api.api;
    let ids = create_many(api, "short-lived", 12).await;
    wait_all_active(api, &ids, Duration::from_secs(60)).await;
    let listed = tokio::task::spawn_blocking(queues).await.expect("queues");
    for id in &ids {
        assert!(
            listed
                .iter()
                .any(|(name, consumers, _)| name == &format!("guestagent.{id}") && *consumers == 1),
            "a live guest has its queue and one consumer: {listed:?}"
        );
    }
    for id in &ids {
        let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
        assert_eq!(status, 202);
    }
    for id in &ids {
        api.wait_gone(id).await;
    }
    assert_no_guest_queues(&ids, Duration::from_secs(10)).await;
    // And they stay gone: every guest session has stopped for good (the pool's events reach the
    // cluster's list), so nothing is left that could declare its queue again.
    for id in &ids {
        api.wait_event(Duration::from_secs(20), &format!("guest session {id} stopped"), |e| {
            e["kind"] == "guest_session" && e["actor_id"] == id.as_str() && e["event"] == "stopped"
        })
        .await;
    }
    assert_no_guest_queues(&ids, Duration::from_secs(1)).await;
    let noise = log_lines(&db, "consumer lost");
    assert!(noise.is_empty(), "deleting a guest is not a lost consumer: {noise:#?}");
}
