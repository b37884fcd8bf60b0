//! The parameter catalog against the servers' own metadata: each parameter coffer offers exists
//! in the running server, needs a restart exactly when the server says so (PostgreSQL's
//! `pg_settings.context`, MariaDB's `SYSTEM_VARIABLES.READ_ONLY`, Redis refusing `CONFIG SET` of
//! an immutable setting), and its bounds lie within the server's.

use crate::datastores::ip_of;
use crate::support::Api;
use serde_json::Value;

async fn catalog_of(api: &Api, datastore: &str) -> Vec<Value> {
    let (_, versions) = api.get(&format!("/datastores/{datastore}/versions")).await;
    let version = versions["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["active"] != false))
        .and_then(|v| v["id"].as_str())
        .expect("an active version")
        .to_string();
    let (status, listed) = api.get(&format!("/datastores/versions/{version}/parameters")).await;
    assert_eq!(status, 200, "{listed}");
    let params = listed["configuration-parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    assert!(params.len() >= 40, "{datastore}: {} parameters", params.len());
    params
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Checks every catalog parameter of `datastore` against the running instance `id`.
pub async fn matches_the_server(api: &Api, id: &str, datastore: &str, password: Option<&str>) {
    let params = catalog_of(api, datastore).await;
    let ip = ip_of(&api.instance(id).await.expect("view"));
    for p in &params {
        let name = p["name"].as_str().expect("name").to_string();
        let restart = p["restart_required"].as_bool().expect("restart_required");
        match datastore {
            "postgresql" => {
                let client = crate::datastores::pg(&ip, "app", "app-secret", "shop")
                    .await
                    .expect("connect");
                let row = client
                    .query_opt(
                        "SELECT context, min_val, max_val FROM pg_settings WHERE lower(name) = $1",
                        &[&name],
                    )
                    .await
                    .expect("pg_settings")
                    .unwrap_or_else(|| panic!("PostgreSQL has no {name}"));
                let (context, min, max): (String, Option<String>, Option<String>) =
                    (row.get(0), row.get(1), row.get(2));
                assert_eq!(restart, context == "postmaster", "{name}: context {context}");
                if let (Some(ours), Some(theirs)) = (number(&p["min"]), min.and_then(|m| m.parse::<f64>().ok())) {
                    assert!(ours >= theirs, "{name}: min {ours} below the server's {theirs}");
                }
                if let (Some(ours), Some(theirs)) = (number(&p["max"]), max.and_then(|m| m.parse::<f64>().ok())) {
                    assert!(ours <= theirs, "{name}: max {ours} above the server's {theirs}");
                }
            }
            "mariadb" => {
                use mysql_async::prelude::Queryable;
                let mut conn = crate::datastores::maria(&ip, "app", "app-secret", "shop")
                    .await
                    .expect("connect");
                let row: Option<(String, Option<String>, Option<String>)> = conn
                    .exec_first(
                        "SELECT READ_ONLY, NUMERIC_MIN_VALUE, NUMERIC_MAX_VALUE FROM information_schema.SYSTEM_VARIABLES \
                         WHERE VARIABLE_NAME = ?",
                        (name.to_ascii_uppercase(),),
                    )
                    .await
                    .expect("SYSTEM_VARIABLES");
                let (read_only, min, max) = row.unwrap_or_else(|| panic!("MariaDB has no {name}"));
                assert_eq!(restart, read_only == "YES", "{name}: READ_ONLY {read_only}");
                if let (Some(ours), Some(theirs)) = (number(&p["min"]), min.and_then(|m| m.parse::<f64>().ok())) {
                    assert!(ours >= theirs, "{name}: min {ours} below the server's {theirs}");
                }
                if let (Some(ours), Some(theirs)) = (number(&p["max"]), max.and_then(|m| m.parse::<f64>().ok())) {
                    assert!(ours <= theirs, "{name}: max {ours} above the server's {theirs}");
                }
            }
            _ => {
                let mut conn = crate::datastores::redis_conn(&ip, password.expect("password"))
                    .await
                    .expect("connect");
                let pair: Vec<String> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg(&name)
                    .query_async(&mut conn)
                    .await
                    .expect("GET");
                let current = pair.get(1).unwrap_or_else(|| panic!("Redis has no {name}")).clone();
                // Setting a value to itself changes nothing, and tells a mutable one from an
                // immutable one (the instance's own account may reconfigure it when coffer is root).
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } == 0 {
                    let set: redis::RedisResult<()> = redis::cmd("CONFIG")
                        .arg("SET")
                        .arg(&name)
                        .arg(&current)
                        .query_async(&mut conn)
                        .await;
                    let immutable = set.as_ref().is_err_and(|e| e.to_string().contains("immutable"));
                    assert_eq!(restart, immutable, "{name}: CONFIG SET said {set:?}");
                }
            }
        }
    }
}
