//! `PUT` access, `PATCH` upgrade and an admin's rebuild on real PostgreSQL, MariaDB and Redis
//! servers, each with coffer SIGKILLed while it runs: every one ends ACTIVE/HEALTHY with the
//! data written before it; access rules refuse, then admit, a client from this host.

use crate::chaos::{real_create, usable};
use crate::datastores::{ip_of, server_pid, BUILD_BOUND};
use crate::support::{Api, Backend, CofferProcess, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

const DATASTORES: [&str; 3] = ["postgresql", "mariadb", "redis"];

/// Sends `body` to `path`, waits `pause`, SIGKILLs coffer and starts it again.
async fn request_then_kill(
    coffer: CofferProcess,
    db: &TestDb,
    method: &str,
    path: &str,
    body: Value,
    pause: Duration,
) -> CofferProcess {
    let (status, answer) = coffer.api.send(method, path, Some(&body.to_string())).await;
    assert_eq!(status, 202, "{method} {path}: {answer}");
    tokio::time::sleep(pause).await;
    coffer.kill9();
    CofferProcess::start(db, &[]).await
}

async fn settled(api: &Api, id: &str) -> Value {
    api.wait_active_within(id, BUILD_BOUND).await
}

/// The data `usable` wrote is there (PostgreSQL/MariaDB: rows in `t`; Redis: `k`).
async fn data_kept(api: &Api, id: &str, datastore: &str, password: Option<&str>) {
    let ip = ip_of(&api.instance(id).await.expect("view"));
    match datastore {
        "postgresql" => {
            let client = crate::datastores::pg(&ip, "app", "app-secret", "shop")
                .await
                .expect("connect");
            let rows = client.query("SELECT x FROM t", &[]).await.expect("read");
            assert!(!rows.is_empty(), "{datastore}: rows kept");
        }
        "mariadb" => {
            use mysql_async::prelude::Queryable;
            let mut conn = crate::datastores::maria(&ip, "app", "app-secret", "shop")
                .await
                .expect("connect");
            let rows: Vec<i32> = conn.query("SELECT x FROM t").await.expect("read");
            assert!(!rows.is_empty(), "{datastore}: rows kept");
        }
        _ => {
            let mut conn = crate::datastores::redis_conn(&ip, password.expect("password"))
                .await
                .expect("connect");
            let v: Option<String> = redis::cmd("GET").arg("k").query_async(&mut conn).await.expect("GET");
            assert_eq!(v.as_deref(), Some("v"), "{datastore}: key kept");
        }
    }
}

#[actix_web::test]
async fn access_upgrade_and_rebuild_keep_the_data_through_a_crash() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() == 0 };
    let db = TestDb::new(Backend::Sqlite);
    let mut coffer = CofferProcess::start(&db, &[]).await;
    let mut made = Vec::new();
    for datastore in DATASTORES {
        let (status, body) = coffer
            .api
            .send(
                "POST",
                "/instances",
                Some(&real_create(datastore, datastore).to_string()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["instance"]["id"].as_str().expect("id").to_string();
        made.push((id, datastore, body["instance"]["password"].as_str().map(str::to_string)));
    }
    for (id, datastore, password) in &made {
        settled(&coffer.api, id).await;
        usable(&coffer.api, id, datastore, password.as_deref())
            .await
            .expect("usable");
    }

    for (id, datastore, password) in &made {
        let path = format!("/instances/{id}");
        let pw = password.as_deref();
        // Access: only 10.1.0.0/16 — this host is refused, whatever the datastore.
        if root || *datastore == "postgresql" {
            let closed = json!({"instance": {"access": {"allowed_cidrs": ["10.1.0.0/16"]}}});
            coffer = request_then_kill(coffer, &db, "PUT", &path, closed, Duration::from_millis(100)).await;
            let view = settled(&coffer.api, id).await;
            assert_eq!(view["access"]["allowed_cidrs"], json!(["10.1.0.0/16"]), "{view}");
            assert!(
                usable(&coffer.api, id, datastore, pw).await.is_err(),
                "{datastore}: refused"
            );
            let open = json!({"instance": {"access": {"is_public": true, "allowed_cidrs": ["127.0.0.0/8"]}}});
            let (status, body) = coffer.api.send("PUT", &path, Some(&open.to_string())).await;
            assert_eq!(status, 202, "{body}");
            let view = settled(&coffer.api, id).await;
            assert_eq!(
                view["access"],
                json!({"is_public": true, "allowed_cidrs": ["127.0.0.0/8"]})
            );
            usable(&coffer.api, id, datastore, pw).await.expect("admitted again");
        }
        // Upgrade to the installed version: Trove's rebuild on the same version.
        let view = coffer.api.instance(id).await.expect("view");
        let version = view["datastore"]["version"].as_str().expect("version").to_string();
        let (status, _) = coffer
            .api
            .send(
                "PATCH",
                &path,
                Some(&json!({"instance": {"datastore_version": "9.9"}}).to_string()),
            )
            .await;
        assert_eq!(status, 400, "an unknown version");
        let pid_before = server_pid(&db.dir.path().join("instances").join(id));
        let upgrade = json!({"instance": {"datastore_version": version}});
        coffer = request_then_kill(coffer, &db, "PATCH", &path, upgrade, Duration::from_millis(300)).await;
        let view = settled(&coffer.api, id).await;
        data_kept(&coffer.api, id, datastore, pw).await;
        let number = view["datastore"]["version_number"].as_str().expect("version_number");
        assert!(
            number.starts_with(&format!("{version}.")) && number.len() > version.len() + 1,
            "{datastore}: the server's full version ({number}) under {version}"
        );
        let pid_after = server_pid(&db.dir.path().join("instances").join(id));
        assert_ne!(pid_before, pid_after, "{datastore}: the server was started anew");

        // An admin's rebuild.
        let action = format!("/mgmt/instances/{id}/action");
        let (status, _) = coffer
            .api
            .send("POST", &action, Some(r#"{"rebuild": {"image_id": "nope"}}"#))
            .await;
        assert_eq!(status, 400, "image_id must be a UUID");
        let rebuild = json!({"rebuild": {"image_id": uuid::Uuid::new_v4().to_string()}});
        coffer = request_then_kill(coffer, &db, "POST", &action, rebuild, Duration::from_millis(200)).await;
        settled(&coffer.api, id).await;
        data_kept(&coffer.api, id, datastore, pw).await;
        let flows = coffer.api.flows(id).await;
        for kind in ["upgrade", "rebuild"] {
            assert!(
                flows.iter().any(|(k, _, status)| k == kind && status == "done"),
                "{datastore}: a finished {kind} flow in /mgmt/flows: {flows:?}"
            );
        }
    }
    for (id, ..) in &made {
        let (status, _) = coffer.api.send("DELETE", &format!("/instances/{id}"), None).await;
        assert_eq!(status, 202);
    }
    for (id, ..) in &made {
        coffer.api.wait_for(id, BUILD_BOUND, "gone", |v| v.is_none()).await;
    }
    crate::chaos::assert_nothing_left(&db.dir.path().join("instances")).await;
}
