//! A MariaDB instance has no account but coffer's admin and those the API made: nothing
//! password-less from mariadb-install-db, no anonymous user — on a fresh instance, and on one
//! adopted after a restart that had gained such accounts.

use crate::datastores::{create, ip_of, maria, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, CofferProcess, TestApp, TestDb};
use mysql_async::prelude::Queryable;
use serde_json::json;
use std::time::Duration;

/// Every account of the instance, read as root (enabled through the API).
async fn try_accounts(ip: &str, root_password: &str) -> Result<Vec<(String, String)>, String> {
    let mut conn = maria(ip, "root", root_password, "mysql").await?;
    let mut rows: Vec<(String, String)> = conn
        .query("SELECT User, Host FROM mysql.user ORDER BY User, Host")
        .await
        .map_err(|e| e.to_string())?;
    rows.sort();
    let _ = conn.disconnect().await;
    Ok(rows)
}

async fn accounts(ip: &str, root_password: &str) -> Vec<(String, String)> {
    try_accounts(ip, root_password).await.expect("root reads the accounts")
}

fn expected(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = [("mariadb.sys", "localhost"), ("os_admin", "localhost"), ("root", "%")]
        .iter()
        .chain(extra)
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect();
    all.sort();
    all
}

async fn enable_root(api: &Api, id: &str) -> String {
    let (status, body) = api.send("POST", &format!("/instances/{id}/root"), None).await;
    assert_eq!(status, 200, "{body}");
    body["user"]["password"].as_str().expect("root password").to_string()
}

#[actix_web::test]
async fn a_fresh_mariadb_has_only_its_own_accounts() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, _) = create(
        api,
        "mariadb",
        json!({"databases": [{"name": "shop"}],
               "users": [{"name": "app", "password": "app-secret", "databases": [{"name": "shop"}]}]}),
    )
    .await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);
    let (_, root) = api.get(&format!("/instances/{id}/root")).await;
    assert_eq!(root["rootEnabled"], false, "no root before it is enabled: {root}");
    for user in ["root", "", "mysql", "mariadb.sys", "os_admin"] {
        for password in ["", "root"] {
            assert!(
                maria(&ip, user, password, "mysql").await.is_err(),
                "'{user}' with password '{password}' got in"
            );
        }
    }
    let password = enable_root(api, &id).await;
    assert_eq!(accounts(&ip, &password).await, expected(&[("app", "%")]));
    api.send("DELETE", &format!("/instances/{id}"), None).await;
    api.wait_gone(&id).await;
}

#[actix_web::test]
async fn an_adopted_mariadb_loses_accounts_coffer_did_not_make() {
    let db = TestDb::new(Backend::Sqlite);
    let coffer = CofferProcess::start(&db, &[]).await;
    let (id, _) = create(
        &coffer.api,
        "mariadb",
        json!({"users": [{"name": "app", "password": "app-secret"}]}),
    )
    .await;
    let view = coffer.api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);
    let password = enable_root(&coffer.api, &id).await;
    // What an instance of an older coffer (or a careless operator) has.
    let mut conn = maria(&ip, "root", &password, "mysql").await.expect("root");
    for sql in [
        "CREATE USER 'root'@'127.0.0.1'",
        "CREATE USER ''@'localhost'",
        "CREATE USER 'ghost'@'%'",
        "CREATE USER 'sock'@'localhost' IDENTIFIED VIA unix_socket",
        "GRANT ALL ON *.* TO 'root'@'127.0.0.1'",
    ] {
        conn.query_drop(sql).await.expect(sql);
    }
    let _ = conn.disconnect().await;
    assert!(
        maria(&ip, "root", "", "mysql").await.is_ok(),
        "the planted hole is open"
    );
    coffer.kill9();
    let coffer = CofferProcess::start(&db, &[]).await;
    eventually(Duration::from_secs(60), "the planted accounts removed", || async {
        // While the password-less root@127.0.0.1 exists, it is who a local client is.
        let found = try_accounts(&ip, &password).await;
        if found.as_ref().is_ok_and(|a| *a == expected(&[("app", "%")])) {
            Ok(())
        } else {
            Err(found)
        }
    })
    .await;
    assert!(maria(&ip, "root", "", "mysql").await.is_err());
    assert!(
        maria(&ip, "app", "app-secret", "mysql").await.is_ok() || maria(&ip, "app", "app-secret", "").await.is_ok()
    );
    coffer.api.send("DELETE", &format!("/instances/{id}"), None).await;
    coffer.api.wait_gone(&id).await;
}
