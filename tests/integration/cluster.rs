//! Distributed mode as an operator runs it, over the private RabbitMQ and PostgreSQL: a broker
//! restart with creates in flight, a guest pool SIGKILLed and replaced, the README's start line
//! run as written, node ids, deletes of creates that never had a server, queues left behind,
//! and the cluster's own view of itself (`/mgmt/services`, every process's `/healthz` and
//! `/metrics`, supervision events of every process). Takes turns with the other broker tests.

mod outages;
mod startup;
mod view;

use crate::amqp::amqp_url;
use crate::support::{eventually, Api, CofferProcess, TestDb};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The environment of every process of a test cluster: short intervals so that outages,
/// expiries and reports play out within a test.
pub fn cluster_env(db: &TestDb, prepare_ms: u64) -> Vec<(&'static str, String)> {
    vec![
        ("COFFER_BUS_TRANSPORT", "amqp".into()),
        ("COFFER_BUS_AMQP_URL", amqp_url()),
        ("COFFER_COMPUTE_GUEST_HOST", "process".into()),
        ("COFFER_COMPUTE_SIMULATED_PREPARE_MS", prepare_ms.to_string()),
        ("COFFER_QUOTA_INSTANCES", "600".into()),
        ("COFFER_QUOTA_VOLUMES", "1200".into()),
        ("COFFER_TASKMANAGER_LEASE_S", "3".into()),
        ("COFFER_GUEST_HEARTBEAT_EXPIRY_S", "10".into()),
        ("COFFER_CLUSTER_REPORT_INTERVAL_S", "0.5".into()),
        ("COFFER_CLUSTER_DOWN_AFTER_S", "3".into()),
        ("COFFER_TELEMETRY_BIND", "127.0.0.1:0".into()),
        (
            "COFFER_SECRETS_MASTER_KEY_FILE",
            db.dir.path().join("master.key").display().to_string(),
        ),
    ]
}

/// `env` with one more variable.
pub fn with(env: &[(&'static str, String)], key: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    env.push((key, value.to_string()));
    env
}

/// The private broker's queues as (name, consumers, messages).
pub fn queues() -> Vec<(String, u64, u64)> {
    let out = std::process::Command::new("bash")
        .args(["scripts/rabbitmq-test-server.sh", "queues"])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("run the queue listing");
    assert!(out.status.success(), "listing queues failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let consumers = words.next()?.parse().ok()?;
            let messages = words.next()?.parse().ok()?;
            Some((name, consumers, messages))
        })
        .collect()
}

/// Waits until no queue is left for any of `ids`' guests.
pub async fn assert_no_guest_queues(ids: &[String], within: Duration) {
    eventually(within, "no queue of the deleted instances remains", || async {
        let left: Vec<String> = tokio::task::spawn_blocking(queues)
            .await
            .expect("queues")
            .into_iter()
            .map(|(name, ..)| name)
            .filter(|name| ids.iter().any(|id| name == &format!("guestagent.{id}")))
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(left)
        }
    })
    .await
}

/// `GET /mgmt/services`.
pub async fn services(api: &Api) -> Vec<Value> {
    let (status, body) = api.get("/mgmt/services").await;
    assert_eq!(status, 200, "{body}");
    body["services"].as_array().cloned().unwrap_or_default()
}

/// Waits until `check` holds for the service list; returns it.
pub async fn wait_services(api: &Api, within: Duration, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let what = format!("the service list shows {what}");
    eventually(within, &what, || async {
        let list = services(api).await;
        if check(&list) {
            Ok(list)
        } else {
            Err(list)
        }
    })
    .await
}

/// Services of `role` that are up.
pub fn up<'a>(list: &'a [Value], role: &str) -> Vec<&'a Value> {
    list.iter()
        .filter(|s| s["role"] == role && s["state"] == "up")
        .collect()
}

/// Creates `n` simulated instances named `prefix-<i>`.
pub async fn create_many(api: &Api, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(api.create(&format!("{prefix}-{i}")).await);
    }
    ids
}

/// Waits until every instance is ACTIVE and HEALTHY; panics on one in ERROR.
pub async fn wait_all_active(api: &Api, ids: &[String], within: Duration) {
    // Those not yet seen ACTIVE/HEALTHY; an instance seen so is not asked again.
    let waiting = std::cell::Cell::new(ids.to_vec());
    eventually(within, "every instance ACTIVE/HEALTHY", || async {
        let mut still = Vec::new();
        let mut seen = Vec::new();
        for id in waiting.take() {
            let view = api.instance(&id).await.expect("the instance exists");
            assert_ne!(view["status"], "ERROR", "an instance failed: {view}");
            if view["status"] != "ACTIVE" || view["operating_status"] != "HEALTHY" {
                seen.push(format!("{id}: {} / {}", view["status"], view["operating_status"]));
                still.push(id);
            }
        }
        waiting.set(still);
        if seen.is_empty() {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await
}

/// Starts `coffer <role>` of the cluster.
pub async fn start(db: &TestDb, role: &str, env: &[(&'static str, String)]) -> CofferProcess {
    CofferProcess::start_role(db, Some(role), env).await
}

/// Lines of the shared log of a test's processes that contain `needle`.
pub fn log_lines(db: &TestDb, needle: &str) -> Vec<String> {
    std::fs::read_to_string(db.dir.path().join("coffer.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}
