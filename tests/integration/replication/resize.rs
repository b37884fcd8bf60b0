//! What a source's resize does to its replicas (as Trove: they grow with it), and backups taken
//! of a replica.

use super::{action, ip, replicas, source, wait_topology};
use crate::backups::{request_backup, restore, wait_backup};
use crate::datastores::{pg, BUILD_BOUND};
use crate::support::{Api, Backend, TestApp};
use serde_json::json;
use std::time::Duration;

async fn wait_all(api: &Api, ids: &[&str], what: &str, check: impl Fn(&serde_json::Value) -> bool + Copy) {
    for id in ids {
        api.wait_for(id, BUILD_BOUND, what, |v| {
            v.is_some_and(|v| check(v) && v["status"] == "ACTIVE")
        })
        .await;
    }
}

#[actix_web::test]
async fn a_sources_resize_applies_to_its_replicas_and_a_replica_backs_up() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (src, primary) = source(api, "postgresql").await;
    primary.prepare().await.expect("table");
    primary.write(7).await.expect("write");
    let ids = replicas(api, &src, 1).await;
    wait_topology(api, &src, &[&ids[0]]).await;
    let members = [src.as_str(), ids[0].as_str()];

    let (status, body) = action(api, &src, json!({"resize": {"volume": {"size": 2}}})).await;
    assert_eq!(status, 202, "{body}");
    wait_all(api, &members, "2 GB", |v| v["volume"]["size"] == 2).await;
    let (status, body) = action(api, &src, json!({"resize": {"flavorRef": "2"}})).await;
    assert_eq!(status, 202, "{body}");
    wait_all(api, &members, "flavor 2", |v| v["flavor"]["id"] == "2").await;
    let replica = pg(&ip(api, &ids[0]).await, "app", "app-pw", "shop")
        .await
        .expect("connect to the replica");
    let shown = replica.query_one("SHOW shared_buffers", &[]).await.expect("show");
    assert_eq!(shown.get::<_, String>(0), "512MB", "the replica runs with flavor 2");
    wait_topology(api, &src, &[&ids[0]]).await;
    super::streams(&primary, &[primary.at(&ip(api, &ids[0]).await)], 8).await;

    // A backup of the replica restores into a standalone copy with the source's data.
    let backup = request_backup(api, &ids[0], json!({})).await;
    let done = wait_backup(api, &backup, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let (restored, _) = restore(api, &backup, Some("postgresql")).await;
    let view = super::ready(api, &restored).await;
    let copy = primary.at(&crate::datastores::ip_of(&view));
    assert!(copy.has(7).await.expect("read the restored copy"));
    copy.write(9).await.expect("the restored copy takes writes");
}
