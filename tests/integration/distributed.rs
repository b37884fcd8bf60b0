//! Distributed mode with guest agents as processes of their own (`[compute] guest_host =
//! "process"`): api, task managers and conductor as separate processes over the private RabbitMQ
//! and PostgreSQL; a real PostgreSQL instance served by its `coffer guest --instance-id` process;
//! a create whose task manager is SIGKILLed finished by another after the lease.

use crate::amqp::{amqp_url, BROKER};
use crate::datastores::{alive, create, ip_of, pg, server_pid, BUILD_BOUND};
use crate::support::{eventually, Api, Backend, CofferProcess, TestDb};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn env(db: &TestDb) -> Vec<(&'static str, String)> {
    vec![
        ("COFFER_BUS_TRANSPORT", "amqp".into()),
        ("COFFER_BUS_AMQP_URL", amqp_url()),
        ("COFFER_COMPUTE_GUEST_HOST", "process".into()),
        ("COFFER_TASKMANAGER_LEASE_S", "3".into()),
        (
            "COFFER_SECRETS_MASTER_KEY_FILE",
            db.dir.path().join("master.key").display().to_string(),
        ),
    ]
}

fn with_node(env: &[(&'static str, String)], node: &str) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    env.push(("COFFER_TASKMANAGER_NODE_ID", node.into()));
    env
}

/// Processes whose command line contains every one of `words`.
fn processes_with(words: &[&str]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            !cmdline.is_empty() && words.iter().all(|w| cmdline.contains(w))
        })
        .collect()
}

fn guest_processes(id: &str) -> Vec<i32> {
    processes_with(&["guest", "--instance-id", id])
}

/// PostgreSQL postmasters serving this volume (their command line names its data directory).
fn postmasters(volume: &Path) -> Vec<i32> {
    processes_with(&[&format!("{}/data", volume.display())])
}

/// The guest process exits once it has destroyed its server.
async fn wait_no_guest(id: &str) {
    eventually(
        Duration::from_secs(15),
        "the guest process exits with its server",
        || async {
            let left = guest_processes(id);
            if left.is_empty() {
                Ok(())
            } else {
                Err(left)
            }
        },
    )
    .await
}

async fn create_flow(api: &Api, id: &str) -> Option<Value> {
    let (status, body) = api.get(&format!("/mgmt/flows?instance_id={id}")).await;
    assert_eq!(status, 200, "{body}");
    body["flows"]
        .as_array()?
        .iter()
        .find(|f| f["kind"] == "create")
        .cloned()
}

async fn wait_heartbeat_after(api: &Api, id: &str, before: &Value, what: &str) {
    let what = format!("a heartbeat {what}");
    eventually(Duration::from_secs(30), &what, || async {
        let now = api.instance(id).await.expect("view")["service_status_updated"].clone();
        if &now != before {
            Ok(())
        } else {
            Err(now)
        }
    })
    .await
}

#[actix_web::test]
async fn a_real_postgresql_instance_runs_under_its_own_guest_process() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = env(&db);
    let api = CofferProcess::start_role(&db, Some("api"), &env).await;
    let _conductor = CofferProcess::start_role(&db, Some("conductor"), &env).await;
    let task_manager = CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-a")).await;
    let api = &api.api;
    let extra = json!({"databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]});
    let (id, _) = create(api, "postgresql", extra).await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let (ip, volume) = (ip_of(&view), db.dir.path().join("instances").join(&id));
    let guests = guest_processes(&id);
    assert_eq!(guests.len(), 1, "one guest process serves the instance: {guests:?}");
    assert_ne!(guests[0], task_manager.pid() as i32);
    let conn = pg(&ip, "app", "app-pw", "shop").await.expect("app connects to shop");
    conn.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
        .await
        .expect("write");
    // The api process calls the guest process over RabbitMQ.
    let (status, dbs) = api.get(&format!("/instances/{id}/databases")).await;
    assert_eq!(status, 200, "{dbs}");
    assert_eq!(dbs["databases"][0]["name"], "shop", "{dbs}");

    // The guest outlives the task manager that started it: it goes on heartbeating.
    task_manager.kill9();
    let before = api.instance(&id).await.expect("view")["service_status_updated"].clone();
    wait_heartbeat_after(api, &id, &before, "from the guest process after its task manager died").await;
    // A new task manager adopts the running guest instead of starting another.
    let _successor = CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-b")).await;
    api.wait_event(Duration::from_secs(30), "tm-b adopted its servers", |e| {
        e["kind"] == "compute" && e["actor_id"] == "tm-b" && e["event"] == "adopted"
    })
    .await;
    assert_eq!(guest_processes(&id), guests, "the same single guest process");

    let server = server_pid(&volume).expect("postmaster pid");
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
    wait_no_guest(&id).await;
    assert!(!alive(server), "the PostgreSQL server is stopped");
    assert!(!volume.exists(), "the volume is removed");
}

#[actix_web::test]
async fn a_create_whose_task_manager_is_killed_is_finished_by_another() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = env(&db);
    let api = CofferProcess::start_role(&db, Some("api"), &env).await;
    let _conductor = CofferProcess::start_role(&db, Some("conductor"), &env).await;
    let mut managers = vec![
        (
            "tm-a",
            CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-a")).await,
        ),
        (
            "tm-b",
            CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-b")).await,
        ),
    ];
    let api = &api.api;
    let (id, _) = create(api, "postgresql", json!({})).await;
    // As soon as the owner has started the server (the guest process), SIGKILL the owner.
    let owner = eventually(Duration::from_secs(60), "the create starts", || async {
        let flow = create_flow(api, &id).await;
        if let Some(f) = flow.as_ref().filter(|f| f["step"].as_i64() >= Some(1)) {
            assert_eq!(
                f["status"], "running",
                "the create ended before its owner could be killed: {f}"
            );
            return Ok(f["owner"].as_str().expect("an owner").to_string());
        }
        Err(flow)
    })
    .await;
    let index = managers
        .iter()
        .position(|(n, _)| *n == owner)
        .expect("owner is one of ours");
    let (_, killed) = managers.remove(index);
    killed.kill9();
    let survivor = managers[0].0;

    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let flow = create_flow(api, &id).await.expect("the create flow");
    assert_eq!(flow["owner"], survivor, "the other task manager finished it: {flow}");
    assert_eq!(flow["status"], "done", "{flow}");
    // The takeover is on record, naming both.
    let took_over = api
        .wait_event(Duration::from_secs(10), "of the takeover", |e| {
            e["event"] == "took_over"
        })
        .await;
    let reason = took_over["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(survivor) && reason.contains(&format!("of {owner}")),
        "a takeover event naming both: {took_over}"
    );
    let volume = db.dir.path().join("instances").join(&id);
    assert_eq!(guest_processes(&id).len(), 1, "exactly one guest process");
    assert_eq!(postmasters(&volume).len(), 1, "exactly one PostgreSQL server");
    let addresses = view["ip"].as_array().map(Vec::len);
    assert_eq!(addresses, Some(1), "one address: {view}");
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
    wait_no_guest(&id).await;
}

/// A source whose whole guest is gone (its host) is ejected; when its guest comes back with a
/// new task manager, the records make it a replica that was never told whom to follow: its
/// server stays stopped, never a second source.
#[actix_web::test]
async fn a_source_ejected_while_its_guest_was_gone_never_serves_again() {
    use crate::replication::{replicas, source, wait_topology};
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let mut env = env(&db);
    env.push(("COFFER_GUEST_HEARTBEAT_EXPIRY_S", "4".into()));
    env.push(("COFFER_GUEST_CALL_LOW_TIMEOUT_S", "3".into()));
    let api = CofferProcess::start_role(&db, Some("api"), &env).await;
    let _conductor = CofferProcess::start_role(&db, Some("conductor"), &env).await;
    let task_manager = CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-a")).await;
    let api = &api.api;
    let (src, primary) = source(api, "postgresql").await;
    primary.prepare().await.expect("table");
    primary.write(1).await.expect("write");
    let ids = replicas(api, &src, 1).await;
    wait_topology(api, &src, &[&ids[0]]).await;

    // The source's host goes away: its guest process and its server die together.
    let volume = db.dir.path().join("instances").join(&src);
    let server = server_pid(&volume).expect("postmaster");
    for pid in guest_processes(&src).into_iter().chain([server]) {
        // SAFETY: kill(2) on processes this test's coffer started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    eventually(
        Duration::from_secs(30),
        "the eject is taken once the heartbeat expired",
        || async {
            let (status, body) = crate::replication::action(api, &ids[0], json!({"eject_replica_source": {}})).await;
            if status == 202 {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    api.wait_for(&src, BUILD_BOUND, "recorded as a replica of the new source", |v| {
        v.is_some_and(|v| v["replica_of"]["id"] == ids[0].as_str())
    })
    .await;
    let new_source = api.wait_active_within(&ids[0], BUILD_BOUND).await;
    assert!(new_source.get("replica_of").is_none(), "{new_source}");

    // The host returns: a new task manager starts the source's guest again.
    task_manager.kill9();
    let _successor = CofferProcess::start_role(&db, Some("taskmanager"), &with_node(&env, "tm-b")).await;
    let log = volume.join("guest.log");
    eventually(BUILD_BOUND, "the returned guest leaves its server stopped", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !guest_processes(&src).is_empty() && text.contains("not told whom to follow") {
            Ok(())
        } else {
            Err(guest_processes(&src))
        }
    })
    .await;
    assert!(postmasters(&volume).is_empty(), "the old source's server runs again");
    assert!(!primary.writable().await, "the old source takes writes");
    let promoted = primary.at(&ip_of(&new_source));
    assert!(promoted.has(1).await.expect("read the new source"));
    assert!(promoted.writable().await, "the new source takes writes");

    // Started again on purpose, it still refuses writes; a detach makes it a copy of its own.
    // Actions are refused (422) until the returned guest's first heartbeat is in: its last one,
    // from before the kill, has expired.
    api.wait_for(&src, BUILD_BOUND, "heard from again", |v| {
        v.is_some_and(|v| v["operating_status"] != "ERROR")
    })
    .await;
    let (status, body) = crate::replication::action(api, &src, json!({"restart": {}})).await;
    assert_eq!(status, 202, "{body}");
    api.wait_active_within(&src, BUILD_BOUND).await;
    assert!(primary.has(1).await.expect("read the fenced source"));
    assert!(!primary.writable().await, "a restart made the old source writable");
    let (status, body) = api
        .send(
            "PUT",
            &format!("/instances/{src}"),
            Some(r#"{"instance": {"replica_of": null}}"#),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    api.wait_for(&src, BUILD_BOUND, "detached", |v| {
        v.is_some_and(|v| v["status"] == "ACTIVE" && v.get("replica_of").is_none())
    })
    .await;
    assert!(primary.writable().await, "the detached copy takes writes");
}
