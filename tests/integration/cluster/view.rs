//! The operator's view of a cluster: every process in `/mgmt/services` (a SIGKILLed one marked
//! down), its own `/healthz` and `/metrics`, the supervision events of every process, flows
//! with their lease owner and expiry; stray `COFFER_*`
//! variables warned about, not fatal; the test broker on loopback only.

use super::*;
use crate::amqp::BROKER;
use crate::support::{instance_status, Backend, EventStream, TestDb};

async fn get_text(url: &str) -> (u16, String) {
    let mut resp = awc::Client::default().get(url).send().await.expect("GET");
    let body = resp.body().await.unwrap_or_default();
    (resp.status().as_u16(), String::from_utf8_lossy(&body).to_string())
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[actix_web::test]
async fn every_process_is_listed_and_shows_itself() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let api = start(&db, "api", &env).await;
    // A stray COFFER_* variable (a wrapper's COFFER_CWD) is warned about, not fatal.
    let conductor = start(&db, "conductor", &with(&env, "COFFER_CWD", "/srv")).await;
    let _tm_a = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-a")).await;
    let _tm_b = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-b")).await;
    let _pool = start(&db, "guest --simulated 20", &env).await;
    let api = &api.api;
    let list = wait_services(api, Duration::from_secs(20), "every process up", |l| {
        up(l, "api").len() == 1
            && up(l, "conductor").len() == 1
            && up(l, "taskmanager").len() == 2
            && up(l, "guest_pool").len() == 1
    })
    .await;
    assert!(!log_lines(&db, "COFFER_CWD names no configuration key").is_empty());
    for service in &list {
        for field in ["id", "node_id", "host", "pid", "version", "started", "last_seen"] {
            assert!(!service[field].is_null(), "{field} of {service}");
        }
    }
    let ids = create_many(api, "shown", 3).await;
    wait_all_active(api, &ids, Duration::from_secs(60)).await;

    // Each process serves /healthz and /metrics of its own.
    let list = services(api).await;
    let url_of = |role: &str| {
        up(&list, role)[0]["telemetry_url"]
            .as_str()
            .expect("a telemetry url")
            .to_string()
    };
    for role in ["api", "conductor", "taskmanager", "guest_pool"] {
        let (status, body) = get_text(&format!("{}/healthz", url_of(role))).await;
        assert_eq!(status, 200, "{role}: {body}");
    }
    let (_, conductor_metrics) = get_text(&format!("{}/metrics", url_of("conductor"))).await;
    let applied = metric(&conductor_metrics, "coffer_heartbeats_applied_total").unwrap_or(0.0);
    assert!(
        applied > 0.0,
        "the conductor's own metrics count its heartbeats: {conductor_metrics}"
    );
    let (_, pool_metrics) = get_text(&format!("{}/metrics", url_of("guest_pool"))).await;
    assert_eq!(
        metric(&pool_metrics, "coffer_pool_guests_hosted"),
        Some(3.0),
        "{pool_metrics}"
    );
    assert_eq!(metric(&pool_metrics, "coffer_pool_capacity"), Some(20.0));
    // The pool's row follows at its next report.
    let list = wait_services(api, Duration::from_secs(20), "the pool's row shows its guests", |l| {
        up(l, "guest_pool").first().is_some_and(|p| p["hosted"] == 3)
    })
    .await;
    let pool_row = up(&list, "guest_pool")[0].clone();
    assert_eq!(
        (pool_row["hosted"].clone(), pool_row["capacity"].clone()),
        (3.into(), 20.into())
    );

    // The supervision events of every process, not only the api's.
    let (_, events) = api.get("/mgmt/supervision-events?limit=1000").await;
    let events = events["events"].as_array().cloned().unwrap_or_default();
    let kinds_of = |node: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["node_id"].as_str().is_some_and(|n| n.starts_with(node)))
            .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let flow_actors = kinds_of("tm-a")
        .into_iter()
        .chain(kinds_of("tm-b"))
        .any(|k| k == "instance");
    assert!(flow_actors, "the task managers' flow actors: {events:#?}");
    let pool_node = pool_row["node_id"].as_str().expect("pool node id").to_string();
    assert!(
        kinds_of(&pool_node).iter().any(|k| k == "guest_session"),
        "the pool's sessions"
    );

    // Flows with their lease owner and expiry.
    let (status, flows) = api.get("/mgmt/flows").await;
    assert_eq!(status, 200, "{flows}");
    let flows = flows["flows"].as_array().cloned().unwrap_or_default();
    assert!(flows.len() >= 3, "{flows:?}");
    for flow in &flows {
        assert!(flow["owner"].is_string() && flow["lease_until"].is_string(), "{flow}");
    }

    // A SIGKILLed process is marked down within its expiry (3 s here).
    let (killed_pid, killed_at) = (conductor.pid(), Instant::now());
    conductor.kill9();
    wait_services(api, Duration::from_secs(6), "the killed conductor down", |l| {
        l.iter().any(|s| s["pid"] == killed_pid && s["state"] == "down")
    })
    .await;
    println!(
        "the killed conductor was shown down {:?} after its SIGKILL",
        killed_at.elapsed()
    );
}

#[actix_web::test]
async fn the_test_broker_listens_on_loopback_only() {
    let _turn = BROKER.lock().await;
    let base = std::env::var("COFFERTEST_DIR").unwrap_or_else(|_| "/tmp/coffer-test".into());
    let pid = std::fs::read_to_string(format!("{base}/rabbitmq/pid")).expect("the broker's pid file");
    let out = std::process::Command::new("ss").args(["-ltnpH"]).output().expect("ss");
    let listening: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("pid={},", pid.trim())))
        .map(str::to_string)
        .collect();
    assert!(
        listening.len() >= 2,
        "the broker's AMQP and distribution ports: {listening:#?}"
    );
    for line in &listening {
        let local = line.split_whitespace().nth(3).unwrap_or_default();
        assert!(
            local.starts_with("127.0.0.1:") || local.starts_with("[::1]:"),
            "the broker listens beyond loopback: {line}"
        );
    }
}

/// Every API process serves every event: a stream on one API process follows a create made
/// through another, from the shared database.
#[actix_web::test]
async fn every_api_process_streams_every_event() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let first = start(&db, "api", &env).await;
    let second = start(&db, "api", &env).await;
    let _conductor = start(&db, "conductor", &env).await;
    let _tm = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-e")).await;
    let _pool = start(&db, "guest --simulated 5", &env).await;
    let watching = EventStream::connect(&second.api.root, "t1", None).await;
    let id = first.api.create("seen-everywhere").await;
    watching
        .wait_for("ACTIVE, on the other API process", instance_status(&id, "ACTIVE"))
        .await;
    let statuses = watching.statuses_of(&id);
    assert_eq!(statuses.first().map(String::as_str), Some("BUILD"), "{statuses:?}");
    let owners: Vec<_> = watching
        .received()
        .iter()
        .filter(|e| e.kind == "flow")
        .filter_map(|e| e.data["flow"]["owner"].as_str().map(str::to_string))
        .collect();
    assert!(
        owners.iter().any(|o| o == "tm-e"),
        "the task manager's steps: {owners:?}"
    );

    // Any API process shows every process's actors: the task manager's components and the
    // pool's guest session, as each last reported them; and the cluster's leases.
    let list = wait_services(&second.api, Duration::from_secs(20), "every process's actors", |l| {
        let counts = |role: &str| {
            l.iter()
                .filter(|s| s["role"] == role && s["state"] == "up")
                .map(|s| s["actors"]["counts"].clone())
                .collect::<Vec<_>>()
        };
        counts("taskmanager")
            .iter()
            .any(|c| c["task_manager"] == 1 && c["compute"] == 1)
            && counts("guest_pool").iter().any(|c| c["guest_session"] == 1)
            && counts("api").len() == 2
    })
    .await;
    let pool = list.iter().find(|s| s["role"] == "guest_pool").expect("the pool's row");
    let actors = pool["actors"]["actors"].as_array().cloned().unwrap_or_default();
    assert!(
        actors
            .iter()
            .any(|a| a["kind"] == "guest_pool" && a["supervisor"].is_null()),
        "a component is listed with no supervisor but the system: {pool}"
    );
    let (status, body) = second.api.get("/mgmt/services").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["leases"].is_array(), "{body}");
}
