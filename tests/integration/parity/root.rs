//! Root as Trove gives it, isolated per instance: with coffer as root, every real instance's
//! server runs under its own OS account (made at create, gone at delete), root is a real
//! superuser (PostgreSQL SUPERUSER, MariaDB ALL WITH GRANT OPTION, Redis every command), and
//! that superuser reaches its own instance's files and no neighbour's.

use crate::datastores::{create, ip_of, maria, pg, redis_conn, volume, BUILD_BOUND};
use crate::support::{Api, Backend, TestApp};
use mysql_async::prelude::Queryable;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

async fn root_shown(api: &Api, id: &str) -> bool {
    let (status, body) = api.get(&format!("/instances/{id}/root")).await;
    assert_eq!(status, 200, "{body}");
    body["rootEnabled"].as_bool().expect("rootEnabled")
}

async fn enable_root(api: &Api, id: &str) -> String {
    let (status, body) = api.send("POST", &format!("/instances/{id}/root"), None).await;
    assert_eq!(status, 200, "{body}");
    body["user"]["password"].as_str().expect("password").to_string()
}

/// The owner of an instance's server files, checked: its own account, 0700 directories.
fn own_account(volume: &Path, id: &str) -> u32 {
    let name = coffer::guest::account::name_for(id);
    let account = coffer::guest::account::lookup(&name).unwrap_or_else(|| panic!("account {name} exists"));
    for dir in ["data", "run", "log"] {
        let meta = std::fs::metadata(volume.join(dir)).expect("volume dir");
        assert_eq!(meta.uid(), account.uid, "{dir} of {id} belongs to {name}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{dir} of {id} is 0700");
    }
    account.uid
}

/// Runs `sql` and returns its first column of its first row as text, or the server's error.
async fn pg_text(client: &tokio_postgres::Client, sql: &str) -> Result<String, String> {
    let rows = client.simple_query(sql).await.map_err(|e| {
        e.as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string())
    })?;
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .ok_or_else(|| "no row".to_string())
}

#[actix_web::test]
async fn root_is_a_superuser_of_its_own_instance_only() {
    let app = TestApp::start(Backend::Postgres, |_| {}).await;
    let api = &app.api;
    let shop = json!({"databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]});
    let (a, _) = create(api, "postgresql", shop.clone()).await;
    let (b, _) = create(api, "postgresql", json!({})).await;
    let (m, _) = create(api, "mariadb", shop).await;
    let (r, created) = create(api, "redis", json!({})).await;
    let redis_password = created["password"].as_str().expect("redis password").to_string();
    let mut ips = Vec::new();
    for id in [&a, &b, &m, &r] {
        ips.push(ip_of(&api.wait_active_within(id, BUILD_BOUND).await));
    }
    let (ip_a, ip_m, ip_r) = (&ips[0], &ips[2], &ips[3]);
    let (vol_a, vol_b) = (volume(&app, &a), volume(&app, &b));
    let neighbour_file = vol_b.join("data/PG_VERSION");
    assert!(neighbour_file.exists(), "B has a data directory");
    if running_as_root() {
        let uids: Vec<u32> = [&a, &b, &m, &r]
            .iter()
            .map(|id| own_account(&volume(&app, id), id))
            .collect();
        let mut distinct = uids.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "one account per instance: {uids:?}");
    }

    // PostgreSQL: root is false until enabled, then a superuser on every database.
    assert!(!root_shown(api, &a).await, "no root before POST /root");
    let password = enable_root(api, &a).await;
    assert!(root_shown(api, &a).await);
    let root = pg(ip_a, "root", &password, "postgres")
        .await
        .expect("root connects to postgres");
    let superuser = pg_text(&root, "select rolsuper from pg_roles where rolname = current_user")
        .await
        .expect("rolsuper");
    assert_eq!(superuser == "t", running_as_root(), "root is a superuser when isolated");
    pg(ip_a, "root", &password, "template1")
        .await
        .expect("root connects to template1");
    pg(ip_a, "root", &password, "shop")
        .await
        .expect("root connects to shop");
    root.batch_execute("CREATE DATABASE made_by_root")
        .await
        .expect("root creates databases");
    pg(ip_a, "app", "app-pw", "shop")
        .await
        .expect("app still connects to shop");
    if running_as_root() {
        // Its programs run as the instance's account: its own files, not B's.
        let whoami = pg_text(
            &root,
            "CREATE TEMP TABLE out (l text); COPY out FROM PROGRAM 'id -un'; SELECT l FROM out",
        )
        .await
        .expect("COPY FROM PROGRAM");
        assert_eq!(whoami, coffer::guest::account::name_for(&a));
        let own = format!("SELECT pg_read_file('{}')", vol_a.join("data/PG_VERSION").display());
        assert_eq!(pg_text(&root, &own).await.expect("own file").trim(), "15");
        let theirs = format!("SELECT pg_read_file('{}')", neighbour_file.display());
        let read = pg_text(&root, &theirs).await;
        assert!(read.as_ref().is_err_and(|e| e.contains("ermission denied")), "{read:?}");
        let cat = format!(
            "CREATE TEMP TABLE stolen (l text); COPY stolen FROM PROGRAM 'cat {}'",
            neighbour_file.display()
        );
        let copied = root.batch_execute(&cat).await;
        assert!(copied.is_err(), "COPY FROM PROGRAM reads nothing of B");
        let listed = format!("SELECT count(*) FROM pg_ls_dir('{}')", vol_b.join("data").display());
        assert!(pg_text(&root, &listed).await.is_err(), "B's directory cannot be listed");
    }

    // MariaDB: no root until enabled, then root@'%' with every privilege; and off again.
    assert!(!root_shown(api, &m).await, "a fresh MariaDB has no root");
    let password = enable_root(api, &m).await;
    assert!(root_shown(api, &m).await);
    let mut conn = maria(ip_m, "root", &password, "shop").await.expect("root connects");
    let grants: Vec<String> = conn.query("SHOW GRANTS").await.expect("grants");
    assert!(
        grants
            .iter()
            .any(|g| g.contains("ALL PRIVILEGES ON *.*") && g.contains("WITH GRANT OPTION")),
        "{grants:?}"
    );
    conn.query_drop("CREATE DATABASE made_by_root; GRANT SELECT ON shop.* TO 'reader'@'%' IDENTIFIED BY 'r-pw'")
        .await
        .expect("root creates and grants");
    let stolen: Option<Option<Vec<u8>>> = conn
        .query_first(format!("SELECT LOAD_FILE('{}')", neighbour_file.display()))
        .await
        .expect("LOAD_FILE runs");
    assert_eq!(stolen, Some(None), "LOAD_FILE reads nothing of B");
    let _ = conn.disconnect().await;
    let (status, _) = api.send("DELETE", &format!("/instances/{m}/root"), None).await;
    assert_eq!(status, 204);
    assert!(!root_shown(api, &m).await, "root is off again");
    assert!(
        maria(ip_m, "root", &password, "shop").await.is_err(),
        "root cannot log in"
    );
    maria(ip_m, "app", "app-pw", "shop").await.expect("app still connects");

    // Redis: its password, given at create, is its root (Trove's root_on_create); it has every
    // command, and still only its own files.
    assert!(root_shown(api, &r).await, "Redis has its root from the create");
    let mut redis = redis_conn(ip_r, &redis_password).await.expect("redis connects");
    let policy: Result<String, _> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut redis)
        .await;
    assert_eq!(policy.is_ok(), running_as_root(), "CONFIG SET: {policy:?}");
    // Paths stay Redis's protected configs (its default): no client moves the server's files.
    let moved: Result<String, _> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dir")
        .arg(vol_b.join("data").display().to_string())
        .query_async(&mut redis)
        .await;
    assert!(moved.is_err(), "Redis cannot move into B's directory");

    // Deleting an instance removes its account.
    for id in [&a, &b, &m, &r] {
        let (status, body) = api.send("DELETE", &format!("/instances/{id}"), None).await;
        assert_eq!(status, 202, "{body}");
    }
    for id in [&a, &b, &m, &r] {
        api.wait_gone(id).await;
        let name = coffer::guest::account::name_for(id);
        assert!(coffer::guest::account::lookup(&name).is_none(), "{name} removed");
    }
}
