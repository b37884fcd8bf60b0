//! `GET/POST /instances/{id}/log` (Trove's guest logs) on real PostgreSQL, MariaDB and Redis:
//! list, enable, publish into the object store (the published object holds the server's log
//! lines), discard; bad input answered with Trove's faults.

use crate::datastores::{create, ip_of, maria, pg, redis_conn, BUILD_BOUND};
use crate::support::{Api, Backend, TestApp};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use std::path::Path;

async fn logs(api: &Api, id: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/instances/{id}/log")).await;
    assert_eq!(status, 200, "{body}");
    body["logs"].as_array().cloned().unwrap_or_default()
}

async fn act(api: &Api, id: &str, body: Value) -> (u16, Value) {
    api.send("POST", &format!("/instances/{id}/log"), Some(&body.to_string()))
        .await
}

/// The text of every object published for the instance's log `name`.
fn published_text(backups: &Path, id: &str, name: &str) -> String {
    let dir = backups.join("database_logs").join(id).join(name);
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        text.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.path()).unwrap_or_default(),
        ));
    }
    text
}

#[actix_web::test]
async fn logs_are_listed_enabled_published_and_discarded() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let backups = app._db.dir.path().join("backups");
    let users = json!({"databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]});
    for (datastore, user_log, sys_log) in [("postgresql", "general", "error"), ("mariadb", "general", "error")] {
        let (id, _) = create(api, datastore, users.clone()).await;
        let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
        let listed = logs(api, &id).await;
        let find = |l: &[Value], n: &str| l.iter().find(|x| x["name"] == n).cloned().unwrap_or_default();
        let general = find(&listed, user_log);
        assert_eq!(
            (general["type"].clone(), general["status"].clone()),
            (json!("USER"), json!("Disabled")),
            "{listed:?}"
        );
        assert_eq!(find(&listed, sys_log)["type"], "SYS", "{listed:?}");
        for field in ["published", "pending", "container", "prefix", "metafile"] {
            assert!(!general[field].is_null(), "{field}: {general}");
        }
        // Bad input.
        assert_eq!(act(api, &id, json!({"enable": 1})).await.0, 400);
        assert_eq!(act(api, &id, json!({"name": "nope", "enable": 1})).await.0, 404);
        assert_eq!(
            act(api, &id, json!({"name": user_log, "enable": 1, "disable": 1}))
                .await
                .0,
            400
        );
        assert_eq!(act(api, &id, json!({"name": user_log, "enable": "yes"})).await.0, 400);
        assert_eq!(act(api, &id, json!({"name": sys_log, "disable": 1})).await.0, 422);
        assert_eq!(
            act(api, &id, json!({"name": user_log, "publish": 1})).await.0,
            422,
            "a disabled log"
        );
        assert_eq!(api.get("/instances/no-such-id/log").await.0, 404);

        let (status, enabled) = act(api, &id, json!({"name": user_log, "enable": 1})).await;
        assert_eq!(status, 200, "{enabled}");
        assert_eq!(enabled["log"]["status"], "Enabled", "{enabled}");
        let marker = format!("coffer_log_marker_{}", datastore);
        match datastore {
            "postgresql" => {
                let conn = pg(&ip, "app", "app-pw", "shop").await.expect("connect");
                conn.batch_execute(&format!("SELECT '{marker}'")).await.expect("query");
            }
            _ => {
                let mut conn = maria(&ip, "app", "app-pw", "shop").await.expect("connect");
                conn.query_drop(format!("SELECT '{marker}'")).await.expect("query");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (status, published) = act(api, &id, json!({"name": user_log, "publish": 1})).await;
        assert_eq!(status, 200, "{published}");
        assert!(published["log"]["published"].as_u64() > Some(0), "{published}");
        assert_eq!(published["log"]["status"], "Published", "{published}");
        let text = published_text(&backups, &id, user_log);
        assert!(
            text.contains(&marker),
            "the published {user_log} log holds the query: {text}"
        );
        let (status, discarded) = act(api, &id, json!({"name": user_log, "discard": 1})).await;
        assert_eq!(status, 200, "{discarded}");
        assert_eq!(discarded["log"]["published"], 0);
        assert!(published_text(&backups, &id, user_log).is_empty(), "discarded");
        let (status, _) = act(api, &id, json!({"name": user_log, "disable": 1})).await;
        assert_eq!(status, 200);
        assert_eq!(find(&logs(api, &id).await, user_log)["status"], "Disabled");
        assert_eq!(api.send("DELETE", &format!("/instances/{id}"), None).await.0, 202);
        api.wait_gone(&id).await;
    }
    // Redis: its server log, always on.
    let (id, created) = create(api, "redis", json!({})).await;
    let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
    let password = created["password"].as_str().expect("the password, once").to_string();
    redis_conn(&ip, &password).await.expect("redis answers");
    let listed = logs(api, &id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["name"].clone(), listed[0]["type"].clone()),
        (json!("server"), json!("SYS"))
    );
    let (status, published) = act(api, &id, json!({"name": "server", "publish": 1})).await;
    assert_eq!(status, 200, "{published}");
    assert!(published_text(&backups, &id, "server").contains("Ready to accept connections"));
    assert_eq!(api.send("DELETE", &format!("/instances/{id}"), None).await.0, 202);
    api.wait_gone(&id).await;
}
