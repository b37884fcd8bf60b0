//! `coffer bench <scenario>`: starts coffer in this process on a fresh SQLite database, drives it
//! over real HTTP, and prints figures (run it on the release build).
//!
//! - `api`: the read routes under load with a Keystone token (see [`api`]).
//! - `create`: `count` simulated instances created with `concurrency` requests in flight, timed
//!   until every one is ACTIVE; prints the time, the create rate, the CPU per create (the
//!   process's, and coffer's own without the load client's thread) and the peak RSS.
//! - `datastores`: five real instances of each installed datastore created one after another
//!   (median create-to-ACTIVE time each), then coffer's RSS while it runs 20 real instances.
//! - `backup`: backup and restore throughput of a PostgreSQL instance of `count` MB (see
//!   [`backup`]).
//! - `conductor`: `count` signed heartbeats for `instances` instances cast until all are applied,
//!   over the in-process bus and (with `--amqp-url`) RabbitMQ, with 1 and 2 conductors, beside
//!   RabbitMQ's raw rate (see [`conductor`]).
//! - `guests`: `count` simulated guests heartbeating, held for `--hold-s` while CPU, RSS per
//!   guest, heartbeats applied and expired are measured (see [`guests`]).

mod api;
mod backup;
mod conductor;
mod guests;
mod load_thread;

use crate::app::{self, Role};
use crate::config::Config;
use crate::db::schema::{instances, service_statuses};
use crate::manager::Manager;
use crate::status::ServiceStatus;
use anyhow::Context as _;
use diesel::prelude::*;
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU seconds this process has used (user + system).
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// What `coffer bench` was asked.
pub struct Options {
    pub count: usize,
    pub concurrency: usize,
    pub instances: usize,
    pub amqp_url: Option<String>,
    /// guests: how long the guests are held heartbeating while measured.
    pub hold: Duration,
}

pub async fn run(scenario: &str, o: Options) -> anyhow::Result<()> {
    match scenario {
        "api" => api::run(o.concurrency.max(1)).await,
        "create" => create(o.count, o.concurrency.max(1)).await,
        "datastores" => datastores().await,
        "backup" => backup::run(o.count).await,
        "conductor" => conductor::run(o.count, o.instances.max(1), o.amqp_url).await,
        "guests" => guests::run(o.count, o.concurrency.max(1), o.hold).await,
        other => anyhow::bail!("unknown scenario {other:?}; known: api, create, datastores, backup, conductor, guests"),
    }
}

pub(crate) fn bench_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.api.bind = "127.0.0.1:0".into();
    config.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    config.database.pool_size = 8;
    config.compute.data_dir = dir.join("instances").display().to_string();
    config.compute.simulated_prepare_ms = std::time::Duration::from_millis(100);
    config.log.filter = "warn".into();
    config.auth.mode = crate::config::AuthMode::Noauth;
    config.auth.admin_password_file = dir.join("admin-password").display().to_string();
    config.secrets.master_key_file = dir.join("master.key").display().to_string();
    config
}

/// Lifts the bench project's quotas (targets.md: benchmarks run unlimited).
pub(crate) async fn unlimited(client: &awc::Client, base: &str) -> anyhow::Result<()> {
    let body = json!({"quotas": {"instances": -1, "ram": -1, "volumes": -1, "backups": -1}});
    let resp = client
        .put(format!("{base}/mgmt/quotas/bench"))
        .send_json(&body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(resp.status().is_success(), "setting quotas answered {}", resp.status());
    Ok(())
}

async fn create(count: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("coffer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let _scratch = Scratch(dir.clone());
    let node = app::start(bench_config(&dir), Role::All).await?;
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    unlimited(&client, &base).await?;
    let (began, cpu_before, statements_before) = (Instant::now(), cpu_seconds(), crate::db::statements_sent());
    let (writes_before, commits_before) = crate::db::writes_and_commits();
    let load_base = base.clone();
    // The load client's own thread returns when the last create is answered.
    let ((created, accepted_at), load_cpu) = load_thread::run(move || async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
        let created = create_simulated(&client, &load_base, "bench", count, concurrency).await;
        (created, Instant::now())
    })
    .await?;
    let accepted = accepted_at.duration_since(began);
    let failed = created.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} creates failed: {:?}",
        created.into_iter().find_map(|r| r.err())
    );
    let (db, expiry) = (node.services.db.clone(), node.services.config.guest.heartbeat_expiry_s);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (active, _) = db.run(move |c| census(c, expiry)).await?;
        if active as usize >= count {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {active} of {count} ACTIVE after 600 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = began.elapsed();
    // Every create's whole way: API, flow, compute, guest, conductor (and a count of the ACTIVE ones every 100 ms).
    let cpu_each_ms = (cpu_seconds() - cpu_before) * 1000.0 / count.max(1) as f64;
    let load_each_ms = load_cpu * 1000.0 / count.max(1) as f64;
    let statements_each = (crate::db::statements_sent() - statements_before) as f64 / count.max(1) as f64;
    println!("bench create: {count} simulated instances, {concurrency} concurrent requests, SQLite");
    println!(
        "  all creates accepted (HTTP 200) in {:.2} s ({:.0}/s)",
        accepted.as_secs_f64(),
        count as f64 / accepted.as_secs_f64()
    );
    println!("  all ACTIVE after     {:.2} s", total.as_secs_f64());
    println!("  CPU per create       {cpu_each_ms:.2} ms (the whole process, until all ACTIVE)");
    println!(
        "    of which coffer    {:.2} ms (less the load client's thread, {load_each_ms:.2} ms)",
        cpu_each_ms - load_each_ms
    );
    println!("  SQL per create       {statements_each:.1} statements (heartbeats and the ACTIVE counts included)");
    let (writes, commits) = crate::db::writes_and_commits();
    let per = |n: u64| n as f64 / count.max(1) as f64;
    let (writes, commits) = (per(writes - writes_before), per(commits - commits_before));
    println!("  write transactions   {writes:.1} per create, sharing {commits:.1} commits");
    println!("  peak RSS             {:.1} MiB", peak_rss_mib());
    node.stop().await;
    Ok(())
}

/// How many times a create answered 503 is sent.
const CREATE_ATTEMPTS: usize = 60;

/// Creates `count` simulated instances named `<prefix>-<n>` with `concurrency` requests in
/// flight; one result per create.
pub(crate) async fn create_simulated(
    client: &awc::Client,
    base: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Vec<anyhow::Result<()>> {
    stream::iter(0..count)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/instances"));
            async move {
                let body = json!({"instance": {"name": format!("{prefix}-{i}"), "flavorRef": "1",
                    "volume": {"size": 1}, "datastore": {"type": "simulated"}}});
                // A node that has no connection free answers 503 and stores nothing: asked
                // again after a pause, as a client would.
                for _ in 0..CREATE_ATTEMPTS {
                    let resp = client
                        .post(&url)
                        .send_json(&body)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    match resp.status().as_u16() {
                        200 => return Ok(()),
                        503 => tokio::time::sleep(Duration::from_millis(500)).await,
                        other => anyhow::bail!("create answered {other}"),
                    }
                }
                anyhow::bail!("create answered 503 {CREATE_ATTEMPTS} times")
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// The bench's scratch directory: on any exit, its datastore servers are killed (by the pids in
/// their volumes) and it is removed.
pub(crate) struct Scratch(pub(crate) std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(instances) = std::fs::read_dir(self.0.join("instances")) {
            for instance in instances.flatten() {
                for pid_file in ["data/postmaster.pid", "run/mysqld.pid", "run/redis.pid"] {
                    let pid = std::fs::read_to_string(instance.path().join(pid_file))
                        .ok()
                        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
                    if let Some(pid) = pid {
                        // SAFETY: kill(2) on a server this bench started.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Current resident set size of this process (VmRSS), in MiB.
pub(crate) fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Creates one instance of `datastore` and waits until it is ACTIVE; returns its id and the time.
async fn create_one(
    client: &awc::Client,
    base: &str,
    datastore: Manager,
    n: usize,
) -> anyhow::Result<(String, Duration)> {
    let databases = match datastore.has_accounts() {
        true => json!([{"name": "d"}]),
        false => json!([]),
    };
    let body = json!({"instance": {"name": format!("{datastore}-{n}"), "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": datastore}, "databases": databases}});
    let began = Instant::now();
    let mut resp = client
        .post(format!("{base}/instances"))
        .send_json(&body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let created: Value = resp.json().await?;
    let id = created["instance"]["id"]
        .as_str()
        .context("create answered no id")?
        .to_string();
    loop {
        let mut resp = client
            .get(format!("{base}/instances/{id}"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let view: Value = resp.json().await?;
        match (
            view["instance"]["status"].as_str(),
            view["instance"]["operating_status"].as_str(),
        ) {
            (Some("ACTIVE"), Some("HEALTHY")) => return Ok((id, began.elapsed())),
            (Some("ERROR"), _) => anyhow::bail!("{datastore} instance failed: {}", view["instance"]["fault"]),
            _ => {}
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(300),
            "{datastore} not ACTIVE after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn datastores() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // A short path: the servers' unix sockets live in their volumes (at most 107 bytes).
    let dir = std::env::temp_dir().join(format!("cb-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let _scratch = Scratch(dir.clone());
    let mut config = bench_config(&dir);
    config.compute.address_pool = "127.77.240.0/24".into();
    config.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(2.0);
    let node = app::start(config, Role::All).await?;
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    unlimited(&client, &base).await?;
    let idle = rss_mib();
    let installed: Vec<Manager> = crate::compute::process::installed_versions()
        .iter()
        .map(|(m, _)| *m)
        .collect();
    let mut ids = Vec::new();
    println!("bench datastores: create-to-ACTIVE, one at a time, 5 each (process compute, SQLite)");
    for datastore in Manager::REAL.into_iter().filter(|d| installed.contains(d)) {
        let mut times = Vec::new();
        for n in 0..5 {
            let (id, took) = create_one(&client, &base, datastore, n).await?;
            ids.push(id);
            times.push(took.as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {datastore:<10} median {:.2} s (min {:.2}, max {:.2})",
            times[2], times[0], times[4]
        );
    }
    let mut n = 100;
    while ids.len() < 20 {
        let datastore = installed[n % installed.len()];
        ids.push(create_one(&client, &base, datastore, n).await?.0);
        n += 1;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "  coffer RSS: {idle:.1} MiB idle, {:.1} MiB with {} real instances (peak {:.1} MiB)",
        rss_mib(),
        ids.len(),
        peak_rss_mib()
    );
    for id in &ids {
        let _ = client.delete(format!("{base}/instances/{id}")).send().await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let mut resp = client
            .get(format!("{base}/instances?limit=1000"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let list: Value = resp.json().limit(16 << 20).await?;
        if list["instances"].as_array().is_none_or(|a| a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.stop().await;
    Ok(())
}

pub(crate) async fn count_active(client: &awc::Client, base: &str, count: usize) -> anyhow::Result<usize> {
    let mut url = format!("{base}/instances?limit={}", count.min(1000));
    let mut active = 0;
    loop {
        let mut resp = client.get(&url).send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let page: Value = resp.json().limit(64 << 20).await?;
        let items = page["instances"].as_array().cloned().unwrap_or_default();
        active += items.iter().filter(|i| i["status"] == "ACTIVE").count();
        match page["links"][0]["href"].as_str() {
            Some(next) => url = next.to_string(),
            None => return Ok(active),
        }
    }
}

/// (instances ACTIVE — no task, server active, guest running or healthy with a fresh heartbeat
/// —, instances whose heartbeat is older than the expiry or that were marked timed out).
fn census(conn: &mut crate::db::DbConn, expiry: Duration) -> Result<(i64, i64), crate::db::DbError> {
    let oldest_fresh = crate::db::now_ms() - expiry.as_millis() as i64;
    let live = || {
        instances::table
            .inner_join(service_statuses::table)
            .filter(instances::deleted.eq(false))
    };
    let running = live()
        .filter(instances::task_id.eq(crate::status::Task::None.code()))
        .filter(instances::server_status.eq("ACTIVE"))
        .filter(service_statuses::status_id.eq_any([ServiceStatus::Running.code(), ServiceStatus::Healthy.code()]))
        .filter(service_statuses::updated_at.ge(oldest_fresh))
        .count()
        .get_result(conn)?;
    let expired = live()
        .filter(
            service_statuses::updated_at
                .lt(oldest_fresh)
                .or(service_statuses::status_id.eq(ServiceStatus::FailedTimeoutGuestagent.code())),
        )
        .count()
        .get_result(conn)?;
    Ok((running, expired))
}
