//! Configuration groups on real PostgreSQL, MariaDB and Redis servers, with SQLite and with
//! PostgreSQL as coffer's database: a dynamic value is in the server at once and a
//! restart-requiring one after the restart (RESTART_REQUIRED until then), a PATCH reaches the
//! server, coffer SIGKILLed during the apply resumes it, values hold across a server restart,
//! and a detach restores the server's defaults. The catalog's restart flags are the servers' own.

use super::{create_group, effective};
use crate::chaos::real_create;
use crate::datastores::{ip_of, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, CofferProcess, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// Per datastore: (dynamic name, its value, restart-requiring name, its value, the PATCH value
/// of the dynamic one).
fn plan(datastore: &str) -> (&'static str, Value, &'static str, Value, Value) {
    match datastore {
        "postgresql" => (
            "statement_timeout",
            json!(1234),
            "shared_buffers",
            json!(4096),
            json!(2345),
        ),
        "mariadb" => (
            "max_connections",
            json!(57),
            "innodb_log_buffer_size",
            json!(8388608),
            json!(58),
        ),
        _ => ("maxmemory", json!(33554432), "databases", json!(32), json!(50331648)),
    }
}

/// The server's own value of `name`, asked as the instance's client.
async fn server_value(api: &Api, id: &str, datastore: &str, name: &str, password: Option<&str>) -> String {
    let ip = ip_of(&api.instance(id).await.expect("view"));
    match datastore {
        "postgresql" => {
            let client = crate::datastores::pg(&ip, "app", "app-secret", "shop")
                .await
                .expect("connect");
            let row = client
                .query_one("SELECT setting FROM pg_settings WHERE lower(name) = $1", &[&name])
                .await
                .expect("pg_settings");
            row.get(0)
        }
        "mariadb" => {
            use mysql_async::prelude::Queryable;
            let mut conn = crate::datastores::maria(&ip, "app", "app-secret", "shop")
                .await
                .expect("connect");
            let value: Option<String> = conn
                .query_first(format!("SELECT CAST(@@GLOBAL.{name} AS CHAR)"))
                .await
                .expect("SELECT @@GLOBAL");
            value.unwrap_or_default()
        }
        _ => {
            let mut conn = crate::datastores::redis_conn(&ip, password.expect("password"))
                .await
                .expect("connect");
            let pair: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut conn)
                .await
                .expect("CONFIG GET");
            pair.get(1).cloned().unwrap_or_default()
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

async fn wait_value(api: &Api, id: &str, datastore: &str, name: &str, want: &str, password: Option<&str>) {
    eventually(
        Duration::from_secs(60),
        &format!("{datastore} {name} = {want}"),
        || async {
            let now = server_value(api, id, datastore, name, password).await;
            match now == want {
                true => Ok(()),
                false => Err(now),
            }
        },
    )
    .await
}

async fn wait_status(api: &Api, id: &str, status: &str) -> Value {
    api.wait_for(id, Duration::from_secs(90), status, |v| {
        v.is_some_and(|v| v["status"] == status)
    })
    .await
    .expect("the instance")
}

async fn groups_on_real_servers(backend: Backend) {
    let db = TestDb::new(backend);
    // The configure flow's second step fails once and waits out a long back-off: coffer is
    // SIGKILLed in that window, and the flow resumes in the next coffer.
    let hold = [
        ("COFFER_TESTING_ENABLED", "true".to_string()),
        ("COFFER_TESTING_FAIL_AT", "configure:1:error".to_string()),
        ("COFFER_TASKMANAGER_RETRY_BACKOFF_MS", "60000".to_string()),
    ];
    let mut coffer = CofferProcess::start(&db, &[]).await;
    let mut made = Vec::new();
    for datastore in ["postgresql", "mariadb", "redis"] {
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
    for (id, ..) in &made {
        coffer.api.wait_active_within(id, BUILD_BOUND).await;
    }
    for (id, datastore, password) in &made {
        super::catalog::matches_the_server(&coffer.api, id, datastore, password.as_deref()).await;
    }
    for (id, datastore, password) in &made {
        let (api, pw) = (&coffer.api, password.as_deref());
        let (dynamic, dyn_value, restart, restart_value, patched) = plan(datastore);
        let default_dynamic = server_value(api, id, datastore, dynamic, pw).await;
        let default_restart = server_value(api, id, datastore, restart, pw).await;
        let values = json!({dynamic: dyn_value, restart: restart_value});
        let group = create_group(api, &format!("{datastore}-tuned"), json!({"type": datastore}), values).await;
        let gid = group["id"].as_str().expect("id").to_string();

        // Attach: the dynamic value at once, RESTART_REQUIRED for the other.
        let body = json!({"instance": {"configuration": gid}});
        assert_eq!(
            api.send("PUT", &format!("/instances/{id}"), Some(&body.to_string()))
                .await
                .0,
            202
        );
        wait_value(api, id, datastore, dynamic, &text(&dyn_value), pw).await;
        wait_status(api, id, "RESTART_REQUIRED").await;
        assert_eq!(
            server_value(api, id, datastore, restart, pw).await,
            default_restart,
            "{datastore}: not yet"
        );
        let (status, _) = api
            .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
            .await;
        assert_eq!(status, 202);
        wait_status(api, id, "ACTIVE").await;
        wait_value(api, id, datastore, restart, &text(&restart_value), pw).await;
        assert_eq!(
            server_value(api, id, datastore, dynamic, pw).await,
            text(&dyn_value),
            "{datastore}: both hold"
        );
        let shown = effective(api, id).await;
        assert_eq!(shown[dynamic], text(&dyn_value), "{datastore}: {shown}");

        // PATCH while coffer is SIGKILLed during the apply: the flow resumes and finishes.
        coffer.kill9();
        coffer = CofferProcess::start(&db, &hold).await;
        let patch = json!({"configuration": {"values": {dynamic: patched}}});
        assert_eq!(
            coffer
                .api
                .send("PATCH", &format!("/configurations/{gid}"), Some(&patch.to_string()))
                .await
                .0,
            200
        );
        let api = &coffer.api;
        api.wait_flow(
            id,
            Duration::from_secs(30),
            "the configure flow fails its step once",
            |k, step, s| k == "configure" && step == 1 && s == "running",
        )
        .await;
        coffer.kill9();
        coffer = CofferProcess::start(&db, &[]).await;
        let api = &coffer.api;
        wait_value(api, id, datastore, dynamic, &text(&patched), pw).await;
        super::wait_configured(api, id, Duration::from_secs(60)).await;

        // A value the server itself refuses (PostgreSQL knows no such time zone): the flow ends
        // failed with a fault naming it, and the server runs — and restarts — without it.
        if *datastore == "postgresql" {
            let bad = json!({"configuration": {"values": {"timezone": "Nowhere/Atlantis"}}});
            assert_eq!(
                api.send("PATCH", &format!("/configurations/{gid}"), Some(&bad.to_string()))
                    .await
                    .0,
                200
            );
            api.wait_flow(id, Duration::from_secs(60), "the configure flow fails", |k, _, s| {
                k == "configure" && s == "failed"
            })
            .await;
            let view = api.instance(id).await.expect("view");
            let fault = view["fault"]["message"].as_str().unwrap_or_default().to_string();
            assert!(fault.contains("timezone") && fault.contains("refused"), "{view}");
            let back = json!({"configuration": {"values": {dynamic: patched, restart: restart_value}}});
            assert_eq!(
                api.send("PUT", &format!("/configurations/{gid}"), Some(&back.to_string()))
                    .await
                    .0,
                202
            );
            super::wait_configured_after_failure(api, id, Duration::from_secs(60)).await;
        }

        // A server restart keeps the values.
        let (status, _) = api
            .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
            .await;
        assert_eq!(status, 202);
        wait_status(api, id, "ACTIVE").await;
        assert_eq!(server_value(api, id, datastore, dynamic, pw).await, text(&patched));
        assert_eq!(
            server_value(api, id, datastore, restart, pw).await,
            text(&restart_value)
        );

        // Detach: the defaults again (the restart-requiring one after a restart).
        let body = json!({"instance": {"configuration": null}});
        assert_eq!(
            api.send("PUT", &format!("/instances/{id}"), Some(&body.to_string()))
                .await
                .0,
            202
        );
        wait_value(api, id, datastore, dynamic, &default_dynamic, pw).await;
        wait_status(api, id, "RESTART_REQUIRED").await;
        let (status, _) = api
            .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
            .await;
        assert_eq!(status, 202);
        wait_status(api, id, "ACTIVE").await;
        assert_eq!(
            server_value(api, id, datastore, restart, pw).await,
            default_restart,
            "{datastore}: default again"
        );
        assert_eq!(api.send("DELETE", &format!("/configurations/{gid}"), None).await.0, 202);

        // A group given at create: the server starts with it; a detach still restores the
        // defaults (nothing was ever applied live to remember them from).
        let group = create_group(
            api,
            &format!("{datastore}-at-create"),
            json!({"type": datastore}),
            json!({dynamic: dyn_value}),
        )
        .await;
        let mut body = real_create(datastore, &format!("{datastore}-grouped"));
        body["instance"]["configuration"] = group["id"].clone();
        let (status, created) = api.send("POST", "/instances", Some(&body.to_string())).await;
        assert_eq!(status, 200, "{created}");
        let grouped = created["instance"]["id"].as_str().expect("id").to_string();
        let pw2 = created["instance"]["password"].as_str().map(str::to_string);
        api.wait_active_within(&grouped, BUILD_BOUND).await;
        assert_eq!(
            server_value(api, &grouped, datastore, dynamic, pw2.as_deref()).await,
            text(&dyn_value)
        );
        let detach = json!({"instance": {"configuration": null}});
        assert_eq!(
            api.send("PUT", &format!("/instances/{grouped}"), Some(&detach.to_string()))
                .await
                .0,
            202
        );
        wait_value(api, &grouped, datastore, dynamic, &default_dynamic, pw2.as_deref()).await;
        assert_eq!(api.send("DELETE", &format!("/instances/{grouped}"), None).await.0, 202);
        api.wait_gone(&grouped).await;
        assert_eq!(
            api.send(
                "DELETE",
                &format!("/configurations/{}", group["id"].as_str().unwrap_or_default()),
                None
            )
            .await
            .0,
            202
        );
    }
    for (id, ..) in &made {
        assert_eq!(
            coffer.api.send("DELETE", &format!("/instances/{id}"), None).await.0,
            202
        );
    }
    for (id, ..) in &made {
        coffer.api.wait_gone(id).await;
    }
}

#[actix_web::test]
async fn groups_on_real_servers_sqlite() {
    groups_on_real_servers(Backend::Sqlite).await
}

#[actix_web::test]
async fn groups_on_real_servers_postgres() {
    groups_on_real_servers(Backend::Postgres).await
}
