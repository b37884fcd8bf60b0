//! Switchover under load and failover of a killed source, on real servers.

use super::{action, ip, ready, replicas, source, wait_topology, Member, Writer, REPLICATION_BOUND};
use crate::datastores::{alive, server_pid, volume, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, TestApp};
use serde_json::json;
use std::time::Duration;

/// Waits until `member` has every row of `rows`.
pub async fn has_all(member: &Member, rows: &[i64], what: &str) {
    eventually(REPLICATION_BOUND, what, || async {
        let mut missing = Vec::new();
        for n in rows {
            if !member.has(*n).await.unwrap_or(false) {
                missing.push(*n);
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    })
    .await
}

/// The members that take a write now: exactly one is expected.
pub async fn writable(members: &[Member]) -> Vec<String> {
    let mut out = Vec::new();
    for m in members {
        if m.writable().await {
            out.push(m.ip.clone());
        }
    }
    out
}

async fn wait_rows(writer: &Writer, at_least: usize, what: &str) {
    eventually(BUILD_BOUND, what, || async {
        let n = writer.count();
        if n >= at_least {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await
}

async fn group(api: &Api, datastore: &str) -> (Vec<String>, Vec<Member>) {
    let (src, primary) = source(api, datastore).await;
    primary.prepare().await.expect("table on the source");
    let mut ids = vec![src.clone()];
    ids.extend(replicas(api, &src, 2).await);
    wait_topology(api, &src, &[&ids[1], &ids[2]]).await;
    let mut members = vec![primary.clone()];
    for id in &ids[1..] {
        members.push(primary.at(&ip(api, id).await));
    }
    (ids, members)
}

async fn switchover_under_load(backend: Backend, datastore: &str) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (ids, members) = group(api, datastore).await;
    let writer = Writer::start(members.clone());
    wait_rows(&writer, 20, "rows committed before the switch").await;
    let (status, body) = action(api, &ids[1], json!({"promote_to_replica_source": {}})).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = api.send("DELETE", &format!("/instances/{}", ids[2]), None).await;
    assert_eq!(status, 422, "a member is not deleted while its group changes: {body}");
    wait_topology(api, &ids[1], &[&ids[2], &ids[0]]).await;
    let after_switch = writer.count();
    wait_rows(&writer, after_switch + 20, "rows committed on the new source").await;
    let rows = writer.finish().await;
    for (i, member) in [&members[1], &members[2], &members[0]].into_iter().enumerate() {
        has_all(
            member,
            &rows,
            &format!("member {i} has all {} committed rows", rows.len()),
        )
        .await;
    }
    assert_eq!(
        writable(&members).await,
        vec![members[1].ip.clone()],
        "only the new source takes writes"
    );
}

async fn failover_of_a_killed_source(backend: Backend, datastore: &str) {
    let app = TestApp::start(backend, |c| c.guest.heartbeat_interval_s = Duration::from_secs_f64(1.0)).await;
    let api = &app.api;
    let (ids, members) = group(api, datastore).await;
    let (status, body) = action(api, &ids[1], json!({"eject_replica_source": {}})).await;
    assert_eq!(status, 400, "eject while the source is healthy: {body}");
    assert!(body["badRequest"]["message"].is_string(), "{body}");
    for n in 1..=10 {
        members[0].write(n).await.expect("write on the source");
    }
    let rows: Vec<i64> = (1..=10).collect();
    has_all(&members[1], &rows, "replica 1 has the rows").await;
    has_all(&members[2], &rows, "replica 2 has the rows").await;

    let pid = server_pid(&volume(&app, &ids[0])).expect("source pid");
    // SAFETY: kill(2) on the server this test created.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Down, as its guest reports it: not HEALTHY, and not ACTIVE either (a server killed but
    // not yet reaped still runs, unhealthy, for a heartbeat or so: Trove's RUNNING, which an
    // eject must refuse).
    api.wait_for(&ids[0], Duration::from_secs(20), "reported down", |v| {
        v.is_some_and(|v| !["HEALTHY", "ACTIVE", ""].contains(&v["operating_status"].as_str().unwrap_or("")))
    })
    .await;
    let (status, body) = action(api, &ids[1], json!({"eject_replica_source": {}})).await;
    assert_eq!(status, 202, "eject after the source died: {body}");
    let new_source = eventually(BUILD_BOUND, "one replica is the source", || async {
        for id in &ids[1..] {
            let view = api.instance(id).await.ok_or("view")?;
            if view["status"] == "ACTIVE" && view.get("replica_of").is_none() {
                return Ok(id.clone());
            }
        }
        Err("no source yet")
    })
    .await;
    let other = ids[1..].iter().find(|i| **i != new_source).expect("the other replica");
    api.wait_for(other, BUILD_BOUND, "following the new source", |v| {
        v.is_some_and(|v| v["replica_of"]["id"] == new_source.as_str() && v["status"] == "ACTIVE")
    })
    .await;
    let source_member = members[0].at(&ip(api, &new_source).await);
    let other_member = members[0].at(&ip(api, other).await);
    source_member.write(11).await.expect("the new source takes writes");
    has_all(&other_member, &[11], "the other replica follows the new source").await;

    // The old source, started again, is not a second source.
    let old = volume(&app, &ids[0]);
    if server_pid(&old).is_none_or(|p| !alive(p)) {
        let (status, body) = action(api, &ids[0], json!({"restart": {}})).await;
        assert!(
            status == 202 || status == 409 || status == 422,
            "restart: {status} {body}"
        );
    }
    eventually(BUILD_BOUND, "the old source's server runs again", || async {
        match server_pid(&old) {
            Some(p) if alive(p) && members[0].has(1).await.unwrap_or(false) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert!(!members[0].writable().await, "the old source takes writes");
    assert_eq!(
        writable(&members).await,
        vec![source_member.ip.clone()],
        "exactly one member takes writes"
    );
    let _ = ready;
}

#[actix_web::test]
async fn postgresql_switchover_under_load_loses_no_row() {
    switchover_under_load(Backend::Sqlite, "postgresql").await;
}

#[actix_web::test]
async fn redis_switchover_under_load_loses_no_row() {
    switchover_under_load(Backend::Sqlite, "redis").await;
}

#[actix_web::test]
async fn postgresql_failover_of_a_killed_source() {
    failover_of_a_killed_source(Backend::Sqlite, "postgresql").await;
}

#[actix_web::test]
async fn redis_failover_of_a_killed_source() {
    failover_of_a_killed_source(Backend::Sqlite, "redis").await;
}

#[actix_web::test]
async fn mariadb_switchover_under_load_loses_no_row() {
    switchover_under_load(Backend::Sqlite, "mariadb").await;
}

#[actix_web::test]
async fn mariadb_failover_of_a_killed_source() {
    failover_of_a_killed_source(Backend::Sqlite, "mariadb").await;
}

#[actix_web::test]
async fn postgresql_switchover_and_failover_on_postgres() {
    switchover_under_load(Backend::Postgres, "postgresql").await;
    failover_of_a_killed_source(Backend::Postgres, "postgresql").await;
}

#[actix_web::test]
async fn mariadb_switchover_and_failover_on_postgres() {
    switchover_under_load(Backend::Postgres, "mariadb").await;
    failover_of_a_killed_source(Backend::Postgres, "mariadb").await;
}

#[actix_web::test]
async fn redis_switchover_and_failover_on_postgres() {
    switchover_under_load(Backend::Postgres, "redis").await;
    failover_of_a_killed_source(Backend::Postgres, "redis").await;
}
