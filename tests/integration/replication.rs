//! Replication on real servers: replicas that stream from their source, detach, switchover under
//! load and failover, for PostgreSQL, MariaDB and Redis, and the API's refusals.

mod bad_input;
mod crashes;
mod members;
mod resize;
mod switching;

use crate::datastores::{create, ip_of, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, TestApp};
pub use members::{Member, Writer};
use serde_json::{json, Value};
use std::time::Duration;

/// How soon a write on the source must be readable on a replica.
pub const REPLICATION_BOUND: Duration = Duration::from_secs(5);

/// A source with a database `shop` and a user `app` (PostgreSQL, MariaDB) and its password.
pub async fn source(api: &Api, datastore: &str) -> (String, Member) {
    let extra = match datastore {
        "redis" => json!({}),
        _ => json!({"databases": [{"name": "shop"}],
            "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]}),
    };
    let (id, created) = create(api, datastore, extra).await;
    let password = created["password"].as_str().unwrap_or("app-pw").to_string();
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    (id, Member::new(datastore, &ip_of(&view), &password))
}

/// `count` replicas of `source` (named `-1`, `-2`, … when more than one): their ids.
pub async fn replicas(api: &Api, source: &str, count: usize) -> Vec<String> {
    let body = json!({"instance": {"name": "replica", "replica_of": source, "replica_count": count}});
    let (status, created) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "replica create: {created}");
    assert_eq!(created["instance"]["replica_of"]["id"], source, "{created}");
    let ids = eventually(Duration::from_secs(10), "the replicas are listed", || async {
        let (_, list) = api.get("/instances").await;
        let listed = list["instances"].as_array().cloned().unwrap_or_default();
        let ids: Vec<String> = listed
            .iter()
            .filter(|i| i["replica_of"]["id"] == source)
            .filter_map(|i| i["id"].as_str().map(String::from))
            .collect();
        // The source's own entry in the list names the same replicas.
        let of_source: Vec<String> = listed
            .iter()
            .filter(|i| i["id"] == source)
            .flat_map(|i| i["replicas"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r["id"].as_str().map(String::from))
            .collect();
        let same = of_source.len() == ids.len() && ids.iter().all(|id| of_source.contains(id));
        if ids.len() == count && same {
            Ok(ids)
        } else {
            Err(format!("replicas {ids:?}, listed on the source {of_source:?}"))
        }
    })
    .await;
    for id in &ids {
        ready(api, id).await;
    }
    ids
}

/// Waits for ACTIVE/HEALTHY, and fails at once on ERROR (with the fault).
pub async fn ready(api: &Api, id: &str) -> Value {
    api.wait_for(id, BUILD_BOUND, "ACTIVE/HEALTHY", |v| {
        let v = v.expect("the instance exists");
        assert_ne!(v["status"], "ERROR", "{id} failed: {}", v["fault"]);
        v["status"] == "ACTIVE" && v["operating_status"] == "HEALTHY"
    })
    .await
    .expect("view")
}

pub async fn ip(api: &Api, id: &str) -> String {
    ip_of(&api.instance(id).await.expect("view"))
}

pub async fn action(api: &Api, id: &str, body: Value) -> (u16, Value) {
    api.send("POST", &format!("/instances/{id}/action"), Some(&body.to_string()))
        .await
}

/// Waits until every member's view has its task done and says whom it follows.
pub async fn wait_topology(api: &Api, source: &str, replicas: &[&str]) {
    let what = format!("{source} is the source of {replicas:?}");
    eventually(BUILD_BOUND, &what, || async {
        let src = api.instance(source).await.ok_or("no source view")?;
        let listed: Vec<&str> = src["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_str())
            .collect();
        let mut ok = src["status"] == "ACTIVE" && src.get("replica_of").is_none();
        ok &= replicas.iter().all(|r| listed.contains(r)) && listed.len() == replicas.len();
        for r in replicas {
            let view = api.instance(r).await.ok_or("no replica view")?;
            ok &= view["status"] == "ACTIVE" && view["replica_of"]["id"] == source;
        }
        if ok {
            Ok(())
        } else {
            Err(format!("{src}"))
        }
    })
    .await
}

/// Write on the source, read it on every replica within the bound, and a replica refuses writes.
pub async fn streams(source: &Member, replicas: &[Member], key: i64) {
    source.write(key).await.expect("write on the source");
    for replica in replicas {
        let what = format!("row {key} reaches the replica {}", replica.ip);
        eventually(REPLICATION_BOUND, &what, || async {
            match replica.has(key).await {
                Ok(true) => Ok(()),
                other => Err(other),
            }
        })
        .await;
        assert!(
            replica.write(-key).await.is_err(),
            "the replica {} accepts writes",
            replica.ip
        );
    }
}

/// The admins' view shows each member's replication state; `/metrics` the replica's lag.
async fn observed(api: &Api, source: &str, replica: &str) {
    let (status, body) = api.get(&format!("/mgmt/instances/{replica}")).await;
    assert_eq!(status, 200, "{body}");
    let state = &body["instance"]["replication"];
    assert_eq!(state["role"], "replica", "{body}");
    assert_eq!(state["writable"], false, "{body}");
    assert_eq!(state["streaming"], true, "{body}");
    let (_, body) = api.get(&format!("/mgmt/instances/{source}")).await;
    assert_eq!(body["instance"]["replication"]["role"], "source", "{body}");
    assert_eq!(body["instance"]["replication"]["writable"], true, "{body}");
    let mut resp = awc::Client::default()
        .get(format!("{}/metrics", api.root))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = String::from_utf8_lossy(&resp.body().await.unwrap_or_default()).to_string();
    let label = format!("instance=\"{replica}\",source=\"{source}\"");
    assert!(
        text.lines()
            .any(|l| l.starts_with("coffer_replication_lag_") && l.contains(&label)),
        "no lag of {replica} in /metrics:\n{text}"
    );
}

async fn create_read_detach(backend: Backend, datastore: &str) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (src, primary) = source(api, datastore).await;
    primary.prepare().await.expect("table on the source");
    let ids = replicas(api, &src, 1).await;
    wait_topology(api, &src, &[&ids[0]]).await;
    let replica = primary.at(&ip(api, &ids[0]).await);
    streams(&primary, std::slice::from_ref(&replica), 1).await;
    if datastore == "redis" {
        members::redis_clients_cannot_unfence(&replica).await;
    }
    observed(api, &src, &ids[0]).await;

    // Detach: the replica becomes a writable standalone copy with the data.
    let (status, body) = api
        .send(
            "PUT",
            &format!("/instances/{}", ids[0]),
            Some(r#"{"instance": {"replica_of": null}}"#),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    api.wait_for(&ids[0], BUILD_BOUND, "detached", |v| {
        v.is_some_and(|v| v["status"] == "ACTIVE" && v.get("replica_of").is_none())
    })
    .await;
    assert!(replica.has(1).await.expect("read the detached copy"));
    replica.write(2).await.expect("the detached copy takes writes");
    let view = api.instance(&src).await.expect("source view");
    assert!(view.get("replicas").is_none_or(|r| r == &json!([])), "{view}");
    assert!(!primary.has(2).await.expect("read"), "the copies are apart");
}

#[actix_web::test]
async fn postgresql_replica_streams_and_detaches() {
    create_read_detach(Backend::Sqlite, "postgresql").await;
}

#[actix_web::test]
async fn redis_replica_streams_and_detaches() {
    create_read_detach(Backend::Sqlite, "redis").await;
}

#[actix_web::test]
async fn mariadb_replica_streams_and_detaches() {
    create_read_detach(Backend::Sqlite, "mariadb").await;
}

#[actix_web::test]
async fn postgresql_replica_streams_and_detaches_on_postgres() {
    create_read_detach(Backend::Postgres, "postgresql").await;
}

#[actix_web::test]
async fn mariadb_replica_streams_and_detaches_on_postgres() {
    create_read_detach(Backend::Postgres, "mariadb").await;
}

#[actix_web::test]
async fn redis_replica_streams_and_detaches_on_postgres() {
    create_read_detach(Backend::Postgres, "redis").await;
}
