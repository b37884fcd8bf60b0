//! Crash safety of the whole process: SIGKILL during BUILD and during DELETING, and SIGTERM,
//! each followed by a start on the same database.

use crate::both_backends;
use crate::support::{eventually, Backend, CofferProcess, EventStream, TestDb};
use std::time::Duration;

async fn sigkill_during_build_then_restart(backend: Backend) {
    let db = TestDb::new(backend);
    let slow_prepare = [("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "4000".to_string())];
    let first = CofferProcess::start(&db, &slow_prepare).await;
    let id = first.api.create("survivor").await;
    eventually(Duration::from_secs(10), "the guest session of the build", || async {
        let sessions = first.api.actors("guest_session").await;
        if sessions.contains(&id) {
            Ok(())
        } else {
            Err(sessions)
        }
    })
    .await;
    assert_eq!(first.api.instance(&id).await.expect("exists")["status"], "BUILD");
    first.kill9();

    let second = CofferProcess::start(&db, &[("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "200".to_string())]).await;
    second.api.wait_active(&id).await;
    assert_eq!(
        second.api.actors("guest_session").await,
        vec![id.clone()],
        "exactly one guest session"
    );
    let flows = second.api.flows(&id).await;
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0].2, "done");
}
both_backends!(sigkill_during_build_then_restart);

/// A create killed after its guest reported the datastore healthy, before its task was
/// cleared: the guest hosted again by the next process starts prepared, so the instance, once
/// ACTIVE, takes actions (such a guest used to forget its prepare: every restart was refused
/// and it never reported again).
async fn sigkill_between_healthy_and_active_then_restart(backend: Backend) {
    let db = TestDb::new(backend);
    // The create's last step fails once and backs off: BUILD, with the guest healthy.
    let faulty = [
        ("COFFER_TESTING_ENABLED", "true".to_string()),
        ("COFFER_TESTING_FAIL_AT", "create:2:error".to_string()),
        ("COFFER_TASKMANAGER_RETRY_BACKOFF_MS", "5000".to_string()),
    ];
    let first = CofferProcess::start(&db, &faulty).await;
    let events = EventStream::connect(&first.api.root, "t1", None).await;
    let id = first.api.create("nearly").await;
    first
        .api
        .wait_flow(
            &id,
            Duration::from_secs(30),
            "the create at its last step",
            |kind, step, _| kind == "create" && step == 2,
        )
        .await;
    events
        .wait_for("the guest's healthy heartbeat, still in BUILD", |e| {
            let instance = &e.data["instance"];
            instance["id"] == id.as_str() && instance["service_status"] == "HEALTHY" && instance["status"] == "BUILD"
        })
        .await;
    assert_eq!(first.api.instance(&id).await.expect("exists")["status"], "BUILD");
    first.kill9();

    let second = CofferProcess::start(&db, &[]).await;
    second.api.wait_active(&id).await;
    let restart = second
        .api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(restart.0, 202, "{}", restart.1);
    second
        .api
        .wait_flow(&id, Duration::from_secs(30), "the restart done", |kind, _, status| {
            kind == "restart" && status == "done"
        })
        .await;
    second.api.wait_active(&id).await;
}
both_backends!(sigkill_between_healthy_and_active_then_restart);

async fn sigkill_during_delete_then_restart(backend: Backend) {
    let db = TestDb::new(backend);
    // Every delete step fails once and backs off for 3 s, which holds the instance in DELETING.
    let faulty = [
        ("COFFER_TESTING_ENABLED", "true".to_string()),
        ("COFFER_TESTING_FAIL_AT", "delete:1:error".to_string()),
        ("COFFER_TASKMANAGER_RETRY_BACKOFF_MS", "3000".to_string()),
    ];
    let first = CofferProcess::start(&db, &faulty).await;
    let id = first.api.create("doomed").await;
    first.api.wait_active(&id).await;
    let (status, _) = first.api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    first
        .api
        .wait_flow(
            &id,
            Duration::from_secs(10),
            "the delete flow fails once at step 1",
            |kind, step, _| kind == "delete" && step == 1,
        )
        .await;
    let deleting = first.api.instance(&id).await.expect("still there while DELETING");
    assert_eq!(
        deleting["status"], "SHUTDOWN",
        "task DELETING with an ACTIVE server shows SHUTDOWN: {deleting}"
    );
    first.kill9();

    let second = CofferProcess::start(&db, &[]).await;
    second.api.wait_gone(&id).await;
    eventually(Duration::from_secs(10), "the guest sessions end", || async {
        let sessions = second.api.actors("guest_session").await;
        if sessions.is_empty() {
            Ok(())
        } else {
            Err(sessions)
        }
    })
    .await;
    // The delete's flow records its end just after the rows it forgets.
    eventually(Duration::from_secs(10), "the delete flow is done", || async {
        let flows = second.api.flows(&id).await;
        flows
            .iter()
            .any(|f| f.0 == "delete" && f.2 == "done")
            .then_some(())
            .ok_or(flows)
    })
    .await;
}
both_backends!(sigkill_during_delete_then_restart);

async fn sigterm_drains_and_loses_no_flow(backend: Backend) {
    let db = TestDb::new(backend);
    let mut first = CofferProcess::start(&db, &[("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "5000".to_string())]).await;
    let id = first.api.create("interrupted").await;
    first.signal(libc::SIGTERM);
    let code = first.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "coffer stops cleanly within 10 s of SIGTERM");
    let second = CofferProcess::start(&db, &[("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "200".to_string())]).await;
    second.api.wait_active(&id).await;
}
both_backends!(sigterm_drains_and_loses_no_flow);

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["--log-format", "json", "migrate"])
        .current_dir(dir.path())
        .env(
            "COFFER_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .env("COFFER_LOG_FILTER", "info")
        .output()
        .expect("run coffer migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["migrations.applied"].as_i64().is_some_and(|n| n >= 1)),
        "the migration event carries its fields: {stderr}"
    );
}

#[test]
fn role_subcommands_refuse_without_a_shared_bus() {
    let dir = tempfile::tempdir().expect("temp dir");
    for role in ["api", "taskmanager", "conductor"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg(role)
            .current_dir(dir.path())
            .env(
                "COFFER_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("c.db").display()),
            )
            .output()
            .expect("run coffer");
        assert!(!out.status.success(), "coffer {role} must refuse on the in-process bus");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("amqp"), "coffer {role} says why: {stderr}");
    }
}

#[actix_web::test]
async fn sigkill_with_real_datastores_active() {
    use crate::datastores::{alive, create, ip_of, maria, pg, redis_conn, server_pid, BUILD_BOUND};
    use serde_json::json;
    let db = TestDb::new(Backend::Sqlite);
    let first = CofferProcess::start(&db, &[]).await;
    let account = json!({"databases": [{"name": "d"}],
        "users": [{"name": "u", "password": "pw", "databases": [{"name": "d"}]}]});
    let (pg_id, _) = create(&first.api, "postgresql", account.clone()).await;
    let (my_id, _) = create(&first.api, "mariadb", account).await;
    let (rd_id, rd) = create(&first.api, "redis", json!({})).await;
    let redis_password = rd["password"].as_str().expect("password").to_string();
    let mut before = Vec::new();
    for id in [&pg_id, &my_id, &rd_id] {
        let view = first.api.wait_active_within(id, BUILD_BOUND).await;
        let pid = server_pid(&db.dir.path().join("instances").join(id)).expect("pid");
        before.push((id.clone(), ip_of(&view), pid, view["service_status_updated"].clone()));
    }
    first.kill9();

    let second = CofferProcess::start(&db, &[]).await;
    for (id, _, pid, beat) in &before {
        let api = second.api.clone();
        api.wait_for(id, Duration::from_secs(30), "ACTIVE with a newer heartbeat", |v| {
            v.is_some_and(|v| v["operating_status"] == "HEALTHY" && v["service_status_updated"] != *beat)
        })
        .await;
        let now = server_pid(&db.dir.path().join("instances").join(id)).expect("pid");
        assert_eq!(now, *pid, "the same server was re-adopted, not a second one started");
        assert!(alive(now));
    }
    pg(&before[0].1, "u", "pw", "d").await.expect("PostgreSQL reachable");
    maria(&before[1].1, "u", "pw", "d").await.expect("MariaDB reachable");
    redis_conn(&before[2].1, &redis_password)
        .await
        .expect("Redis reachable");
    let guests = second.api.actors("guest_session").await;
    assert_eq!(guests.len(), 3, "one guest session per instance: {guests:?}");
}

#[actix_web::test]
async fn passwords_appear_nowhere_in_clear() {
    const SECRET: &str = "Zq9-unmistakable-Pw";
    let db = TestDb::new(Backend::Sqlite);
    let coffer = CofferProcess::start(&db, &[("COFFER_LOG_FILTER", "debug".to_string())]).await;
    let api = &coffer.api;
    let body = format!(
        r#"{{"instance": {{"name": "s", "flavorRef": "1", "datastore": {{"type": "simulated"}},
            "databases": [{{"name": "d"}}], "users": [{{"name": "u", "password": "{SECRET}", "databases": [{{"name": "d"}}]}}]}}}}"#
    );
    let (status, created) = api.send("POST", "/instances", Some(&body)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&id).await;
    let more = format!(r#"{{"users": [{{"name": "v", "password": "{SECRET}"}}]}}"#);
    assert_eq!(
        api.send("POST", &format!("/instances/{id}/users"), Some(&more)).await.0,
        202
    );
    let change = format!(r#"{{"users": [{{"name": "u", "password": "{SECRET}x"}}]}}"#);
    assert_eq!(
        api.send("PUT", &format!("/instances/{id}/users"), Some(&change))
            .await
            .0,
        202
    );

    let mut seen = String::new();
    for path in ["/mgmt/actors", "/mgmt/supervision-events?limit=1000", "/mgmt/quotas/t1"] {
        seen.push_str(&api.get(path).await.1.to_string());
    }
    seen.push_str(&api.get(&format!("/mgmt/flows?instance_id={id}")).await.1.to_string());
    seen.push_str(&api.get(&format!("/instances/{id}")).await.1.to_string());
    coffer.kill9();
    for file in ["coffer.log", "coffer.db", "coffer.db-wal"] {
        let bytes = std::fs::read(db.dir.path().join(file)).unwrap_or_default();
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(
        seen.len() > 10_000,
        "the search covered the logs, the database and /mgmt ({} bytes)",
        seen.len()
    );
    assert!(!seen.contains(SECRET), "a password was found in clear");
}
