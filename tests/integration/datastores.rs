//! Real datastores on the `process` compute driver: PostgreSQL, MariaDB and Redis servers that
//! clients reach at the instance's own address and standard port, as the users the API made.

mod clients;
mod limits;

use crate::support::{Api, Backend, TestApp};
pub use clients::{alive, maria, pg, redis_conn, server_pid, volume};
use serde_json::{json, Value};
use std::time::Duration;

/// How long a real datastore may take from create to ACTIVE here (initdb / install-db included).
pub const BUILD_BOUND: Duration = Duration::from_secs(120);

pub async fn create(api: &Api, datastore: &str, extra: Value) -> (String, Value) {
    let mut instance = json!({"name": format!("{datastore}-it"), "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": datastore}});
    if let (Some(obj), Some(more)) = (instance.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    let (status, body) = api
        .send("POST", "/instances", Some(&json!({ "instance": instance }).to_string()))
        .await;
    assert_eq!(status, 200, "create {datastore}: {body}");
    (
        body["instance"]["id"].as_str().expect("id").to_string(),
        body["instance"].clone(),
    )
}

pub fn ip_of(view: &Value) -> String {
    view["ip"][0]
        .as_str()
        .expect("the instance reports its address")
        .to_string()
}

async fn user_access(api: &Api, id: &str, user: &str, password: &str, databases: &[&str]) {
    let dbs: Vec<Value> = databases.iter().map(|d| json!({"name": d})).collect();
    let body = json!({"users": [{"name": user, "password": password, "databases": dbs}]});
    let (status, resp) = api
        .send("POST", &format!("/instances/{id}/users"), Some(&body.to_string()))
        .await;
    assert_eq!(status, 202, "{resp}");
}

async fn resize_flavor_and_wait(api: &Api, id: &str, flavor: &str) {
    let body = json!({"resize": {"flavorRef": flavor}}).to_string();
    let (status, resp) = api.send("POST", &format!("/instances/{id}/action"), Some(&body)).await;
    assert_eq!(status, 202, "{resp}");
    let view = api
        .wait_for(id, BUILD_BOUND, "resized", |v| {
            v.is_some_and(|v| {
                v["flavor"]["id"] == flavor && v["status"] == "ACTIVE" && v["operating_status"] == "HEALTHY"
            })
        })
        .await;
    assert!(view.is_some());
}

async fn restart_and_wait(api: &Api, id: &str) {
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 202, "{body}");
    api.wait_active_within(id, BUILD_BOUND).await;
}

/// Delete, then the server is gone, its address free and its volume removed.
async fn delete_and_check(app: &TestApp, id: &str, ip: &str, port: u16) {
    let dir = volume(app, id);
    let pid = server_pid(&dir).expect("a running server has a pid file");
    let (status, _) = app.api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    app.api.wait_gone(id).await;
    assert!(!alive(pid), "server process {pid} survived the delete");
    assert!(!dir.exists(), "the volume {} was not removed", dir.display());
    let ip: std::net::Ipv4Addr = ip.parse().expect("ip");
    assert!(
        std::net::TcpListener::bind((ip, port)).is_ok(),
        "{ip}:{port} is still taken"
    );
}

#[actix_web::test]
async fn postgresql_end_to_end() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let extra = json!({"databases": [{"name": "shop"}, {"name": "other"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]});
    let (id, _) = create(api, "postgresql", extra).await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);
    assert_eq!(view["addresses"][0]["type"], "private");

    let app_conn = pg(&ip, "app", "app-pw", "shop").await.expect("app connects to shop");
    app_conn
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
        .await
        .expect("write");
    let used_before = api.instance(&id).await.expect("view")["volume"]["used"]
        .as_f64()
        .expect("used");
    app_conn
        .batch_execute("CREATE TABLE big AS SELECT repeat('x', 1000) AS s FROM generate_series(1, 20000)")
        .await
        .expect("bulk write");
    let used_after = api.instance(&id).await.expect("view")["volume"]["used"]
        .as_f64()
        .expect("used");
    assert!(
        used_after > used_before,
        "volume.used grows with data: {used_before} -> {used_after}"
    );

    user_access(api, &id, "reader", "reader-pw", &["other"]).await;
    let reader = pg(&ip, "reader", "reader-pw", "other")
        .await
        .expect("reader connects to other");
    reader
        .batch_execute("CREATE TABLE r (y int)")
        .await
        .expect("reader writes its database");
    assert!(
        pg(&ip, "reader", "reader-pw", "shop").await.is_err(),
        "reader must not reach shop"
    );
    assert!(
        pg(&ip, "app", "app-pw", "postgres").await.is_err(),
        "users do not reach system databases"
    );

    restart_and_wait(api, &id).await;
    let again = pg(&ip, "app", "app-pw", "shop").await.expect("reconnect after restart");
    let row = again.query_one("SELECT x FROM t", &[]).await.expect("read");
    assert_eq!(row.get::<_, i32>(0), 42, "data survives the restart");
    let shown = again.query_one("SHOW shared_buffers", &[]).await.expect("show");
    assert_eq!(
        shown.get::<_, String>(0),
        "128MB",
        "flavor 1 (512 MB): a quarter of its memory"
    );

    resize_flavor_and_wait(api, &id, "2").await;
    let after = pg(&ip, "app", "app-pw", "shop").await.expect("reconnect after resize");
    let shown = after.query_one("SHOW shared_buffers", &[]).await.expect("show");
    assert_eq!(
        shown.get::<_, String>(0),
        "512MB",
        "flavor 2 (2048 MB) is applied inside the server"
    );
    delete_and_check(&app, &id, &ip, 5432).await;
}

#[actix_web::test]
async fn mariadb_end_to_end() {
    use mysql_async::prelude::Queryable;
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let extra = json!({"databases": [{"name": "shop"}, {"name": "other"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]});
    let (id, _) = create(api, "mariadb", extra).await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);

    let mut conn = maria(&ip, "app", "app-pw", "shop").await.expect("app connects to shop");
    conn.query_drop("CREATE TABLE t (x INT); INSERT INTO t VALUES (42)")
        .await
        .expect("write");
    drop(conn);
    user_access(api, &id, "reader", "reader-pw", &["other"]).await;
    let mut reader = maria(&ip, "reader", "reader-pw", "other")
        .await
        .expect("reader connects to other");
    reader
        .query_drop("CREATE TABLE r (y INT)")
        .await
        .expect("reader writes its database");
    assert!(
        maria(&ip, "reader", "reader-pw", "shop").await.is_err(),
        "reader must not reach shop"
    );

    // A user bound to a host: listed with it, and deleted by it.
    let body = json!({"users": [{"name": "hosted", "password": "pw", "host": "127.0.0.1"}]}).to_string();
    assert_eq!(
        api.send("POST", &format!("/instances/{id}/users"), Some(&body)).await.0,
        202
    );
    let (_, users) = api.get(&format!("/instances/{id}/users")).await;
    let hosted = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["name"] == "hosted")
        .cloned();
    assert_eq!(hosted.expect("listed")["host"], "127.0.0.1");
    assert_eq!(
        api.send("DELETE", &format!("/instances/{id}/users/hosted@127.0.0.1"), None)
            .await
            .0,
        202
    );
    let (_, users) = api.get(&format!("/instances/{id}/users")).await;
    assert!(
        !users.to_string().contains("hosted"),
        "the hosted user is gone: {users}"
    );

    restart_and_wait(api, &id).await;
    let mut again = maria(&ip, "app", "app-pw", "shop")
        .await
        .expect("reconnect after restart");
    let x: Option<i32> = again.query_first("SELECT x FROM t").await.expect("read");
    assert_eq!(x, Some(42), "data survives the restart");
    drop(again);
    resize_flavor_and_wait(api, &id, "2").await;
    let mut after = maria(&ip, "app", "app-pw", "shop")
        .await
        .expect("reconnect after resize");
    let pool: Option<u64> = after
        .query_first("SELECT @@innodb_buffer_pool_size")
        .await
        .expect("read");
    assert_eq!(
        pool,
        Some(1024 * 1024 * 1024),
        "flavor 2 (2048 MB): half for the buffer pool"
    );
    drop(after);
    delete_and_check(&app, &id, &ip, 3306).await;
}

#[actix_web::test]
async fn redis_end_to_end() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, created) = create(api, "redis", json!({})).await;
    let password = created["password"]
        .as_str()
        .expect("the create answer carries the password")
        .to_string();
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);
    let mut conn = redis_conn(&ip, &password).await.expect("connect with the password");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await
        .expect("SET");
    assert!(
        redis_conn(&ip, "wrong").await.is_err() || {
            let mut c = redis_conn(&ip, "wrong").await.expect("conn");
            redis::cmd("GET")
                .arg("k")
                .query_async::<Option<String>>(&mut c)
                .await
                .is_err()
        },
        "a wrong password gets nothing"
    );
    let (status, body) = api.get(&format!("/instances/{id}/users")).await;
    assert_eq!(status, 422, "users on Redis: {body}");
    let (status, _) = api.send("POST", &format!("/instances/{id}/root"), None).await;
    assert_eq!(status, 422, "root on Redis");

    restart_and_wait(api, &id).await;
    let mut again = redis_conn(&ip, &password).await.expect("reconnect after restart");
    let v: Option<String> = redis::cmd("GET").arg("k").query_async(&mut again).await.expect("GET");
    assert_eq!(v.as_deref(), Some("v"), "data survives the restart");
    resize_flavor_and_wait(api, &id, "2").await;
    let mut after = redis_conn(&ip, &password).await.expect("reconnect after resize");
    let max: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut after)
        .await
        .expect("CONFIG");
    assert_eq!(
        max.get(1).map(String::as_str),
        Some("1073741824"),
        "flavor 2 (2048 MB): half as maxmemory"
    );
    delete_and_check(&app, &id, &ip, 6379).await;
}

#[actix_web::test]
async fn killed_server_leaves_healthy_and_restart_brings_it_back() {
    let app = TestApp::start(Backend::Sqlite, |c| {
        c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(1.0)
    })
    .await;
    let api = &app.api;
    let (id, _) = create(
        api,
        "postgresql",
        json!({"databases": [{"name": "d"}],
        "users": [{"name": "u", "password": "pw", "databases": [{"name": "d"}]}]}),
    )
    .await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let pid = server_pid(&volume(&app, &id)).expect("pid");
    // SAFETY: kill(2) on the server this test created.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    api.wait_for(&id, Duration::from_secs(10), "not HEALTHY", |v| {
        v.is_some_and(|v| v["operating_status"] != "HEALTHY")
    })
    .await;
    restart_and_wait(api, &id).await;
    pg(&ip_of(&view), "u", "pw", "d").await.expect("reachable again");
}
