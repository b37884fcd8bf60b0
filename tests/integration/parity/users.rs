//! `PUT /instances/{id}/users/{name}` as Trove's `update_attributes`: rename, host and password
//! in one call, grants kept, on real PostgreSQL and MariaDB servers.

use crate::datastores::{create, ip_of, maria, pg, BUILD_BOUND};
use crate::support::{Api, Backend, TestApp};
use mysql_async::prelude::Queryable;
use serde_json::json;

async fn put_user(api: &Api, id: &str, name: &str, body: serde_json::Value) -> u16 {
    api.send("PUT", &format!("/instances/{id}/users/{name}"), Some(&body.to_string()))
        .await
        .0
}

async fn user_names(api: &Api, id: &str) -> Vec<(String, Option<String>)> {
    let (status, body) = api.get(&format!("/instances/{id}/users")).await;
    assert_eq!(status, 200, "{body}");
    body["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["name"].as_str().unwrap_or_default().to_string(),
                u["host"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[actix_web::test]
async fn users_are_renamed_keeping_their_grants() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    for datastore in ["postgresql", "mariadb"] {
        let extra = json!({"databases": [{"name": "shop"}], "users": [
            {"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]},
            {"name": "other", "password": "other-pw"}]});
        let (id, _) = create(api, datastore, extra).await;
        let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
        match datastore {
            "postgresql" => {
                let conn = pg(&ip, "app", "app-pw", "shop").await.expect("app connects");
                conn.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
                    .await
                    .expect("write");
            }
            _ => {
                let mut conn = maria(&ip, "app", "app-pw", "shop").await.expect("app connects");
                conn.query_drop("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
                    .await
                    .expect("write");
            }
        }
        // Bad input first: nothing changes.
        assert_eq!(
            put_user(api, &id, "nobody", json!({"user": {"name": "x", "password": "p"}})).await,
            404
        );
        assert_eq!(
            put_user(api, &id, "app", json!({"user": {"name": "other", "password": "p"}})).await,
            400
        );
        assert_eq!(put_user(api, &id, "app", json!({"user": {}})).await, 400);
        assert_eq!(put_user(api, &id, "app", json!({"user": {"name": 7}})).await, 400);
        assert_eq!(
            put_user(api, &id, "app", json!({"user": {"host": "not-an-ip"}})).await,
            400
        );
        assert_eq!(put_user(api, &id, "app", json!({"users": []})).await, 400);

        let renamed = put_user(api, &id, "app", json!({"user": {"name": "app2", "password": "new-pw"}})).await;
        assert_eq!(renamed, 202, "{datastore}");
        let names = user_names(api, &id).await;
        assert!(
            names.iter().any(|(n, _)| n == "app2") && !names.iter().any(|(n, _)| n == "app"),
            "{names:?}"
        );
        // The renamed user reads the same database with its new password; the old name is gone.
        match datastore {
            "postgresql" => {
                let conn = pg(&ip, "app2", "new-pw", "shop").await.expect("app2 connects");
                let row = conn.query_one("SELECT x FROM t", &[]).await.expect("read");
                assert_eq!(row.get::<_, i32>(0), 42);
                assert!(pg(&ip, "app", "app-pw", "shop").await.is_err(), "the old name is gone");
            }
            _ => {
                let mut conn = maria(&ip, "app2", "new-pw", "shop").await.expect("app2 connects");
                let x: Option<i32> = conn.query_first("SELECT x FROM t").await.expect("read");
                assert_eq!(x, Some(42));
                assert!(
                    maria(&ip, "app", "app-pw", "shop").await.is_err(),
                    "the old name is gone"
                );
                // A host move keeps the grants too (the listing shows the new host).
                let moved = put_user(api, &id, "app2", json!({"user": {"host": "10.0.0.1"}})).await;
                assert_eq!(moved, 202);
                let names = user_names(api, &id).await;
                assert!(names.contains(&("app2".into(), Some("10.0.0.1".into()))), "{names:?}");
                let (status, access) = api.get(&format!("/instances/{id}/users/app2@10.0.0.1/databases")).await;
                assert_eq!(status, 200, "{access}");
                assert_eq!(access["databases"][0]["name"], "shop", "{access}");
            }
        }
        let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
        assert_eq!(status, 202);
        api.wait_gone(&id).await;
    }
}
