//! A login flood is cheap: password checks bounded and braked per user, memory given back, other
//! requests and the node's own work unharmed; a request that finds no connection gets 503 on
//! time, while the task manager and conductor keep theirs.

use crate::support::{eventually, Backend, CofferProcess, TestApp, TestDb};
use futures::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

fn login_body(mut user: Value, password: &str) -> String {
    user["password"] = json!(password);
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    .to_string()
}

#[actix_web::test]
async fn a_login_flood_checks_little_keeps_memory_and_serves_others() {
    let db = TestDb::new(Backend::Sqlite);
    let coffer = CofferProcess::start(
        &db,
        &[
            ("COFFER_AUTH_MODE", "keystone".into()),
            ("COFFER_AUTH_ADMIN_PASSWORD", "admin-secret".into()),
        ],
    )
    .await;
    let root = coffer.api.root.clone();
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(300))
        .timeout(Duration::from_secs(60))
        .finish();
    let (status, token, body) = crate::identity::login(
        &root,
        &login_body(json!({"name": "admin", "domain": {"id": "default"}}), "admin-secret"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let user_id = body["token"]["user"]["id"].as_str().expect("user id").to_string();
    let project = body["token"]["project"]["id"].as_str().expect("project").to_string();
    let api = coffer.api.as_project(&project, &token.expect("token"));
    api.create("busy").await;
    let metrics = |client: awc::Client| {
        let url = format!("{root}/metrics");
        async move {
            let mut resp = client.get(url).send().await.expect("metrics");
            String::from_utf8_lossy(&resp.body().await.expect("body")).to_string()
        }
    };
    let checks_before = metric(&metrics(client.clone()).await, "coffer_password_checks_total");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(coffer.pid());

    // 2,000 wrong passwords for admin — by name and by id, one user — 256 at a time.
    let started = Instant::now();
    let flood = {
        use futures::StreamExt;
        let sends = (0..2000).map(|i| {
            let user = match i % 2 {
                0 => json!({"name": "admin", "domain": {"id": "default"}}),
                _ => json!({"id": user_id}),
            };
            let body = login_body(user, &format!("guess-{i}"));
            let req = client
                .post(format!("{root}/v3/auth/tokens"))
                .insert_header(("Content-Type", "application/json"));
            async move {
                let mut resp = req.send_body(body).await.expect("login");
                let retry = resp.headers().get("retry-after").is_some();
                let body: Value = serde_json::from_slice(&resp.body().await.unwrap_or_default()).unwrap_or(Value::Null);
                (resp.status().as_u16(), retry, body)
            }
        });
        futures::stream::iter(sends).buffer_unordered(256).collect::<Vec<_>>()
    };
    // Meanwhile an authenticated read answers promptly, again and again.
    let reads = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let t = Instant::now();
            let (status, body) = api.get("/instances").await;
            assert_eq!(status, 200, "{body}");
            slowest = slowest.max(t.elapsed());
        }
        slowest
    };
    let (answers, slowest) = futures::join!(flood, reads);
    println!(
        "flood of {} logins took {:?}; slowest read during it {slowest:?}",
        answers.len(),
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a read during the flood took {slowest:?}"
    );
    for (status, retry, body) in &answers {
        assert!(matches!(status, 401 | 429), "a wrong login answered {status}: {body}");
        assert!(body["error"]["code"] == json!(status), "Keystone's error shape: {body}");
        if *status == 429 {
            assert!(*retry, "429 carries Retry-After");
        }
    }
    let checked = metric(&metrics(client.clone()).await, "coffer_password_checks_total") - checks_before;
    assert!(
        checked <= 10,
        "{checked} passwords checked; the brake allows 10 per user"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(coffer.pid());
    println!("RSS {rss_before} KiB before, {rss_after} KiB after the flood");
    assert!(
        rss_after < rss_before + 50 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let (_, events) = api.get("/mgmt/supervision-events?limit=500").await;
    let failed: Vec<&Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "failed")
        .collect();
    assert!(failed.is_empty(), "no actor failed during the flood: {failed:?}");
}

#[actix_web::test]
async fn identity_fields_and_bodies_are_bounded() {
    let app = crate::identity::keystone_app(Backend::Sqlite, |_| {}).await;
    let root = app.api.root.clone();
    let long = "n".repeat(256);
    for user in [json!({"name": long, "domain": {"id": "default"}}), json!({"id": long})] {
        let (status, _, body) = crate::identity::login(&root, &login_body(user, "x")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], 400);
    }
    let (status, _, body) =
        crate::identity::login(&root, &login_body(json!({"name": "admin"}), &"p".repeat(5000))).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(400)), "{body}");
    let huge = format!(r#"{{"auth": "{}"}}"#, "x".repeat(100 << 10));
    let (status, _, body) = crate::identity::login(&root, &huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], 413, "Keystone's error shape: {body}");
}

#[actix_web::test]
async fn concurrent_guesses_are_counted_before_they_are_checked() {
    let app = crate::identity::keystone_app(Backend::Sqlite, |c| {
        c.auth.max_failed_logins = 5;
        c.auth.password_check_slots = 64;
    })
    .await;
    let root = app.api.root.clone();
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(300))
        .finish();
    let sends = (0..200).map(|i| {
        let req = client
            .post(format!("{root}/v3/auth/tokens"))
            .insert_header(("Content-Type", "application/json"));
        let body = login_body(
            json!({"name": "admin", "domain": {"id": "default"}}),
            &format!("nope-{i}"),
        );
        async move { req.send_body(body).await.expect("login").status().as_u16() }
    });
    let statuses = join_all(sends).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "exactly the allowance was checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 195);
}

async fn internal_work_has_its_own_connections(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.database.pool_size = 2;
        c.database.acquire_timeout_ms = std::time::Duration::from_millis(1000);
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(500);
    })
    .await;
    let api = &app.api;
    let id = api.create("starved").await;
    // Every API connection is taken.
    let api_db = app.node.api_db.clone().expect("API pool");
    let held = tokio::task::spawn_blocking(move || {
        (0..2)
            .map(|_| api_db.get_connection().expect("a connection"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("hold");
    let t = Instant::now();
    let (status, body) = api.get("/instances").await;
    let waited = t.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["serviceUnavailable"]["code"], 503, "{body}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2000),
        "503 after the acquire timeout (1 s), not {waited:?}"
    );
    // Meanwhile the task manager and conductor finish the create on their own pool.
    let what = "the create finishes while the API pool is taken (task, service status)";
    eventually(Duration::from_secs(30), what, || async {
        let lookup = id.clone();
        let (task, service) = app
            .node
            .services
            .db
            .run(move |c| {
                let inst = coffer::db::models::instance::Instance::find(c, &lookup)?.expect("instance");
                let status = coffer::db::models::service_status::ServiceStatusRow::find(c, &lookup)?.expect("status");
                Ok((inst.task_id, status.status_id))
            })
            .await
            .expect("internal pool");
        if task == coffer::status::Task::None.code() && service == coffer::status::ServiceStatus::Healthy.code() {
            Ok(())
        } else {
            Err((task, service))
        }
    })
    .await;
    drop(held);
    api.wait_active(&id).await;
}
crate::both_backends!(internal_work_has_its_own_connections);
