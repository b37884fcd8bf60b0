//! The RabbitMQ transport, against the private RabbitMQ scripts/test.sh starts
//! (`COFFERTEST_AMQP_URL`): the lifecycle with every role in one process on the amqp bus, and
//! with api, taskmanager, conductor and a simulated guest pool as separate processes over RabbitMQ
//! and PostgreSQL, also across a broker restart with 100 instances heartbeating.
//! Guest messages unsigned or signed under another instance's key are rejected there too; the
//! conductor settles its batches with coalesced acks.
//! The tests of this group take turns: they share the broker's queue names.

use crate::support::{eventually, Backend, CofferProcess, TestApp, TestDb};
use coffer::bus::signing;
use coffer::bus::{self, Envelope};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod settling;

pub static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn amqp_url() -> String {
    std::env::var("COFFERTEST_AMQP_URL")
        .expect("COFFERTEST_AMQP_URL is not set: the amqp tests need the private RabbitMQ; run ./scripts/test.sh")
}

/// Every role in this process, on the private RabbitMQ and a fresh PostgreSQL database.
async fn app_on_rabbitmq(tweak: impl FnOnce(&mut coffer::config::Config)) -> TestApp {
    let url = amqp_url();
    TestApp::start(Backend::Postgres, |c| {
        c.bus.transport = coffer::config::Transport::Amqp;
        c.bus.amqp_url = url;
        tweak(c);
    })
    .await
}

#[actix_web::test]
async fn the_lifecycle_runs_over_rabbitmq() {
    let _turn = BROKER.lock().await;
    let app = app_on_rabbitmq(|_| {}).await;
    let api = &app.api;
    let id = api.create("over-rabbitmq").await;
    api.wait_active(&id).await;
    // A call to the guest (the show's filesystem stats) and a user write round-trip the broker.
    let view = api.instance(&id).await.expect("view");
    assert!(view["volume"]["used"].is_number(), "the guest answered a call: {view}");
    // The supervision tree's mailbox depths are the broker's counts of the topics' queues.
    let (status, actors) = api.get("/mgmt/actors").await;
    assert_eq!(status, 200, "{actors}");
    let nodes = actors["tree"]["children"].as_array().cloned().unwrap_or_default();
    let task_manager = nodes.iter().find(|n| n["kind"] == "task_manager");
    assert!(
        task_manager.is_some_and(|n| n["mailbox_depth"].is_u64()),
        "the task manager's queue is counted: {actors}"
    );
    let session = nodes
        .iter()
        .flat_map(|n| n["children"].as_array().cloned().unwrap_or_default())
        .find(|n| n["kind"] == "guest_session" && n["id"] == id.as_str());
    assert!(
        session.is_some_and(|n| n["mailbox_depth"].is_u64()),
        "the guest's queue is counted: {actors}"
    );
    let (status, body) = api
        .send(
            "POST",
            &format!("/instances/{id}/databases"),
            Some(r#"{"databases": [{"name": "d1"}]}"#),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 202);
    api.wait_active(&id).await;
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
}

/// api, conductor, task manager and a pool of simulated guests as four processes over RabbitMQ
/// and PostgreSQL (`[compute] guest_host = "process"`).
struct Distributed {
    api: CofferProcess,
    _conductor: CofferProcess,
    _task_manager: CofferProcess,
    _guests: CofferProcess,
    _db: TestDb,
}

async fn distributed(prepare_ms: u64) -> Distributed {
    let db = TestDb::new(Backend::Postgres);
    let env = [
        ("COFFER_BUS_TRANSPORT", "amqp".to_string()),
        ("COFFER_BUS_AMQP_URL", amqp_url()),
        ("COFFER_COMPUTE_GUEST_HOST", "process".to_string()),
        ("COFFER_COMPUTE_SIMULATED_PREPARE_MS", prepare_ms.to_string()),
        ("COFFER_QUOTA_INSTANCES", "200".to_string()),
        ("COFFER_QUOTA_VOLUMES", "400".to_string()),
    ];
    Distributed {
        api: CofferProcess::start_role(&db, Some("api"), &env).await,
        _conductor: CofferProcess::start_role(&db, Some("conductor"), &env).await,
        _task_manager: CofferProcess::start_role(&db, Some("taskmanager"), &env).await,
        _guests: CofferProcess::start_role(&db, Some("guest --simulated 200"), &env).await,
        _db: db,
    }
}

#[actix_web::test]
async fn api_taskmanager_conductor_and_guests_run_as_separate_processes() {
    let _turn = BROKER.lock().await;
    let d = distributed(200).await;
    let api = &d.api.api;
    let body = json!({"instance": {"name": "distributed", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "simulated"}, "databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active_within(&id, Duration::from_secs(60)).await;
    let (status, dbs) = api.get(&format!("/instances/{id}/databases")).await;
    assert_eq!(
        status, 200,
        "the api process calls the guest in the pool's process: {dbs}"
    );
    assert_eq!(dbs["databases"][0]["name"], "shop");
    let (status, users) = api.get(&format!("/instances/{id}/users")).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["users"][0]["name"], "app", "{users}");
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 202, "{body}");
    api.wait_active_within(&id, Duration::from_secs(60)).await;
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
}

#[actix_web::test]
async fn creates_and_heartbeats_survive_a_broker_restart() {
    let _turn = BROKER.lock().await;
    let d = distributed(2000).await;
    let api = &d.api.api;
    // 100 simulated instances heartbeating (every second) from the pool process.
    let mut heartbeating = Vec::new();
    for n in 0..100 {
        heartbeating.push(api.create(&format!("beating-{n}")).await);
    }
    for id in &heartbeating {
        api.wait_active_within(id, Duration::from_secs(120)).await;
    }
    // 10 creates in flight (their prepare takes 2 s) when the broker goes away and comes back
    // (same port, same durable queues).
    let mut in_flight = Vec::new();
    for n in 0..10 {
        in_flight.push(api.create(&format!("in-flight-{n}")).await);
    }
    let restarted = tokio::task::spawn_blocking(|| {
        std::process::Command::new("bash")
            .args(["scripts/rabbitmq-test-server.sh", "restart"])
            .stdout(std::process::Stdio::null())
            .status()
    })
    .await
    .expect("join")
    .expect("run the restart script");
    assert!(restarted.success(), "the broker restarted");
    let after_restart = chrono::Utc::now().naive_utc();
    for id in &in_flight {
        api.wait_active_within(id, Duration::from_secs(120)).await;
    }
    // Heartbeats resume for every instance: each one's status is refreshed after the restart.
    // Those not yet seen refreshed; an instance seen so is not asked again.
    let all: Vec<String> = heartbeating.iter().chain(&in_flight).cloned().collect();
    let waiting = std::cell::Cell::new(all);
    let what = "a heartbeat after the broker restart from every instance (those without)";
    eventually(Duration::from_secs(60), what, || async {
        let mut still = Vec::new();
        for id in waiting.take() {
            let view = api.instance(&id).await.expect("view");
            let updated = view["service_status_updated"].as_str().unwrap_or_default();
            let fresh =
                chrono::NaiveDateTime::parse_from_str(updated, "%Y-%m-%dT%H:%M:%S").is_ok_and(|t| t > after_restart);
            if !fresh || view["operating_status"] != "HEALTHY" {
                still.push(id);
            }
        }
        waiting.set(still.clone());
        if still.is_empty() {
            Ok(())
        } else {
            Err(still)
        }
    })
    .await;
}

/// Runs tests/oslo/cast.py (oslo.messaging, configured as a Trove guest) with `args`.
async fn oslo_cast(args: Vec<String>) {
    let python = std::env::var("COFFERTEST_OSLO_PYTHON")
        .expect("COFFERTEST_OSLO_PYTHON is not set: run ./scripts/test.sh (it makes the oslo.messaging venv)");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-W", "ignore", "tests/oslo/cast.py", &amqp_url()])
            .args(&args)
            .output()
    })
    .await
    .expect("join")
    .expect("run cast.py");
    assert!(
        out.status.success(),
        "cast.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[actix_web::test]
async fn an_oslo_messaging_client_casts_heartbeat_and_update_backup_to_the_conductor() {
    let _turn = BROKER.lock().await;
    let app = app_on_rabbitmq(|c| {
        c.bus.sign_guest_messages = false;
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(3000);
        // The guest's own heartbeats would overwrite the ones cast here.
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(600.0);
    })
    .await;
    let api = &app.api;
    let id = api.create("oslo").await;
    api.wait_active_within(&id, Duration::from_secs(60)).await;
    let status_is = |want: &'static str| {
        let (api, id) = (api.clone(), id.clone());
        async move {
            api.wait_for(&id, Duration::from_secs(30), want, |v| {
                v.is_some_and(|v| v["operating_status"] == want)
            })
            .await;
        }
    };
    oslo_cast(vec!["heartbeat".into(), id.clone(), "shutdown".into()]).await;
    status_is("SHUTDOWN").await;
    // A message that is not oslo's format is rejected, and the conductor goes on consuming.
    oslo_cast(vec!["garbage".into()]).await;
    oslo_cast(vec!["heartbeat".into(), id.clone(), "healthy".into()]).await;
    status_is("HEALTHY").await;

    // A backup in flight (the simulated dump takes 3 s) completed by a Trove-style update_backup.
    let (status, body) = api
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "b", "instance": id}}).to_string()),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let bk = body["backup"]["id"].as_str().expect("id").to_string();
    oslo_cast(vec!["update_backup".into(), id.clone(), bk.clone(), "COMPLETED".into()]).await;
    let body = eventually(Duration::from_secs(30), "update_backup applied", || async {
        let (_, body) = api.get(&format!("/backups/{bk}")).await;
        if body["backup"]["status"] == "COMPLETED" {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;
    assert_eq!(
        body["backup"]["checksum"],
        "0".repeat(64),
        "the oslo client's update applied: {body}"
    );
}

#[actix_web::test]
async fn unsigned_or_foreign_signed_guest_messages_are_rejected_over_rabbitmq() {
    let _turn = BROKER.lock().await;
    let app = app_on_rabbitmq(|c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(0.5);
    })
    .await;
    assert!(
        app.node.services.config.bus.sign_guest_messages,
        "signing is on by default"
    );
    let api = &app.api;
    let (a, b) = (api.create("signed-a").await, api.create("signed-b").await);
    api.wait_active_within(&a, Duration::from_secs(60)).await;
    api.wait_active_within(&b, Duration::from_secs(60)).await;
    let services = &app.node.services;
    let metrics = &services.metrics;
    let rejected = || metrics.messages_rejected.load(Ordering::Relaxed);

    // An unmodified oslo.messaging client cannot sign: its heartbeat is rejected and logged.
    oslo_cast(vec!["heartbeat".into(), a.clone(), "shutdown".into()]).await;
    // A heartbeat about a signed with b's key (b's guest posing as a's).
    let key_b = app.guest_key(&b).await;
    let sent = chrono::Utc::now().timestamp() as f64 + 10_000.0;
    let mut forged = Envelope::new(
        "heartbeat",
        json!({"instance_id": a, "payload": {"service_status": "shutdown"}, "sent": sent}),
    );
    signing::sign(&mut forged, &a, &key_b);
    services.bus.cast(bus::CONDUCTOR, forged).await.expect("cast");
    eventually(Duration::from_secs(30), "2 messages rejected", || async {
        let seen = rejected();
        if seen >= 2 {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await;
    // The consumer keeps running: the guests' own signed heartbeats go on being applied.
    let applied = metrics.heartbeats_applied.load(Ordering::Relaxed);
    eventually(Duration::from_secs(30), "4 more heartbeats applied", || async {
        let seen = metrics.heartbeats_applied.load(Ordering::Relaxed);
        if seen >= applied + 4 {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await;
    let view = api.instance(&a).await.expect("exists");
    assert_eq!(
        view["operating_status"], "HEALTHY",
        "no rejected heartbeat applied: {view}"
    );
}
