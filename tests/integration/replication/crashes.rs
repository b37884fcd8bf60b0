//! coffer SIGKILLed at every step of a replica create, a switchover, a failover and a detach
//! (the `kill` fault fires once the step's work is done, before its outcome is recorded); each
//! flow resumes in the next process and the group ends with exactly one writable member.

use super::switching::{has_all, writable};
use super::{Member, REPLICATION_BOUND};
use crate::datastores::{alive, ip_of, server_pid, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, CofferProcess, TestDb};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

/// The create flow's steps; the switchover's and failover's; the detach's.
const CREATE_STEPS: i64 = 3;
const SWITCH_STEPS: i64 = 5;
const DETACH_STEPS: i64 = 3;

fn dies_at(kind: &str, step: i64) -> Vec<(&'static str, String)> {
    vec![
        ("COFFER_TESTING_ENABLED", "true".into()),
        ("COFFER_TESTING_FAIL_AT", format!("{kind}:{step}:kill")),
    ]
}

/// Runs `act` on a coffer that dies at step 0 of `kind`, starts the next one dying at step 1,
/// and so on; the last one has no fault and finishes the flow. Answers that last process.
async fn killed_at_every_step<F, Fut>(
    db: &TestDb,
    running: CofferProcess,
    kind: &str,
    steps: i64,
    act: F,
) -> CofferProcess
where
    F: FnOnce(Api) -> Fut,
    Fut: Future<Output = ()>,
{
    let process = dying_at_first_step(db, running, kind).await;
    act(process.api.clone()).await;
    resumed_through_every_step(db, process, kind, steps).await
}

/// `running` replaced by a coffer that dies at step 0 of `kind`.
async fn dying_at_first_step(db: &TestDb, running: CofferProcess, kind: &str) -> CofferProcess {
    running.kill9();
    CofferProcess::start(db, &dies_at(kind, 0)).await
}

/// Waits for `process` to die at step 0 of `kind`, then starts coffers dying at each next step,
/// then one without a fault.
async fn resumed_through_every_step(db: &TestDb, mut process: CofferProcess, kind: &str, steps: i64) -> CofferProcess {
    for step in 1..=steps {
        let pid = process.pid() as i32;
        process.wait_exit(BUILD_BOUND).await;
        assert!(!alive(pid), "coffer was not killed at {kind} step {}", step - 1);
        process = if step < steps {
            // It may die again before it listens.
            CofferProcess::spawn(db, None, &dies_at(kind, step))
        } else {
            CofferProcess::start(db, &[]).await
        };
    }
    process
}

async fn view(api: &Api, id: &str) -> Value {
    api.instance(id).await.expect("view")
}

/// Waits until `source` is ACTIVE with exactly `replicas` following it, all ACTIVE.
async fn settled(api: &Api, source: &str, replicas: &[&str]) {
    super::wait_topology(api, source, replicas).await;
}

async fn members(api: &Api, template: &Member, ids: &[&str]) -> Vec<Member> {
    let mut out = Vec::new();
    for id in ids {
        out.push(template.at(&ip_of(&view(api, id).await)));
    }
    out
}

async fn one_writable(all: &[Member], expected: &Member) {
    let what = format!("only {} takes writes", expected.ip);
    eventually(REPLICATION_BOUND, &what, || async {
        let open = writable(all).await;
        if open == vec![expected.ip.clone()] {
            Ok(())
        } else {
            Err(open)
        }
    })
    .await;
}

async fn every_flow_survives_sigkill_at_every_step(backend: Backend, datastore: &str) {
    let db = TestDb::new(backend);
    let mut p = CofferProcess::start(&db, &[]).await;
    let (src, primary) = super::source(&p.api, datastore).await;
    primary.prepare().await.expect("table");
    primary.write(1).await.expect("write");

    // Replica create (two of them), killed at each step.
    let body = json!({"instance": {"name": "r", "replica_of": src, "replica_count": 2}});
    p = killed_at_every_step(&db, p, "create", CREATE_STEPS, |api| async move {
        let (status, created) = api.send("POST", "/instances", Some(&body.to_string())).await;
        assert_eq!(status, 200, "{created}");
    })
    .await;
    let (_, list) = p.api.get("/instances").await;
    let ids: Vec<String> = list["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["replica_of"]["id"] == src.as_str())
        .filter_map(|i| i["id"].as_str().map(String::from))
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    let (r1, r2) = (ids[0].clone(), ids[1].clone());
    settled(&p.api, &src, &[&r1, &r2]).await;
    let all = members(&p.api, &primary, &[&src, &r1, &r2]).await;
    has_all(&all[1], &[1], "replica 1 has the row").await;
    has_all(&all[2], &[1], "replica 2 has the row").await;
    one_writable(&all, &all[0]).await;

    // Switchover to r1, killed at each step.
    let target = r1.clone();
    p = killed_at_every_step(&db, p, "promote_to_replica_source", SWITCH_STEPS, |api| async move {
        let (status, body) = super::action(&api, &target, json!({"promote_to_replica_source": {}})).await;
        assert_eq!(status, 202, "{body}");
    })
    .await;
    settled(&p.api, &r1, &[&r2, &src]).await;
    one_writable(&all, &all[1]).await;
    all[1].write(2).await.expect("write on the new source");
    has_all(&all[0], &[1, 2], "the old source follows").await;
    has_all(&all[2], &[1, 2], "the other replica follows").await;

    // Failover away from r1 (its server killed under the coffer that runs the eject: a coffer
    // that starts finds a stopped server and starts it again), killed at each step.
    p = dying_at_first_step(&db, p, "eject_replica_source").await;
    // The new coffer has adopted r1 (and started its server if it found it down) first.
    eventually(BUILD_BOUND, "r1's guest session is back", || async {
        let sessions = p.api.actors("guest_session").await;
        if sessions.contains(&r1) {
            Ok(())
        } else {
            Err(sessions)
        }
    })
    .await;
    super::ready(&p.api, &r1).await;
    let dir = db.dir.path().join("instances").join(&r1);
    let pid = server_pid(&dir).expect("pid of r1's server");
    // SAFETY: kill(2) on a server this test created.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    p.api
        .wait_for(&r1, Duration::from_secs(30), "not HEALTHY", |v| {
            v.is_some_and(|v| v["operating_status"] != "HEALTHY")
        })
        .await;
    let (status, body) = super::action(&p.api, &r2, json!({"eject_replica_source": {}})).await;
    assert_eq!(status, 202, "{body}");
    p = resumed_through_every_step(&db, p, "eject_replica_source", SWITCH_STEPS).await;
    let new_source = eventually(BUILD_BOUND, "a new source", || async {
        for id in [&src, &r2] {
            let v = view(&p.api, id).await;
            if v["status"] == "ACTIVE" && v.get("replica_of").is_none() {
                return Ok(id.clone());
            }
        }
        Err("none yet")
    })
    .await;
    let (new_member, other, other_id) = if new_source == src {
        (&all[0], &all[2], r2.clone())
    } else {
        (&all[2], &all[0], src.clone())
    };
    p.api
        .wait_for(&other_id, BUILD_BOUND, "following the new source", |v| {
            v.is_some_and(|v| v["replica_of"]["id"] == new_source.as_str() && v["status"] == "ACTIVE")
        })
        .await;
    one_writable(&all, new_member).await;
    new_member.write(3).await.expect("write on the new source");
    has_all(other, &[1, 2, 3], "the other member follows the new source").await;

    // Detach the other member, killed at each step: a writable copy of its own.
    let target = other_id.clone();
    p = killed_at_every_step(&db, p, "detach_replica", DETACH_STEPS, |api| async move {
        let (status, body) = api
            .send(
                "PUT",
                &format!("/instances/{target}"),
                Some(r#"{"instance": {"replica_of": null}}"#),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    })
    .await;
    p.api
        .wait_for(&other_id, BUILD_BOUND, "detached", |v| {
            v.is_some_and(|v| v["status"] == "ACTIVE" && v.get("replica_of").is_none())
        })
        .await;
    other.write(4).await.expect("the detached copy takes writes");
    assert!(!new_member.has(4).await.unwrap_or(true), "the copies are apart");
    one_writable(std::slice::from_ref(new_member), new_member).await;
    drop(p);
}

#[actix_web::test]
async fn postgresql_flows_survive_sigkill_at_every_step() {
    every_flow_survives_sigkill_at_every_step(Backend::Sqlite, "postgresql").await;
}

#[actix_web::test]
async fn mariadb_flows_survive_sigkill_at_every_step_on_postgres() {
    every_flow_survives_sigkill_at_every_step(Backend::Postgres, "mariadb").await;
}

#[actix_web::test]
async fn redis_flows_survive_sigkill_at_every_step() {
    every_flow_survives_sigkill_at_every_step(Backend::Sqlite, "redis").await;
}
