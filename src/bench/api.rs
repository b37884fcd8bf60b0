//! `coffer bench api`: the API's read routes under load, as a Keystone user sees them. A coffer
//! node (SQLite, `[auth] mode = "keystone"`) with 100 simulated instances of one project; a user
//! of that project logs in with a password once, and `connections` HTTP connections send
//! `GET /instances?limit=20` and then `GET /datastores` with the token for [`ROUTE_TIME`] each:
//! from wrk (2 threads) when it is installed, else from a load generator in this process.
//! Prints req/s, p50/p99 latency and SQL statements per request (every statement the node sent
//! meanwhile, its background work included) per route, and the peak RSS.

use super::{bench_config, count_active, create_simulated, peak_rss_mib, Scratch};
use crate::app::{self, Role};
use anyhow::Context as _;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long each route is driven.
const ROUTE_TIME: Duration = Duration::from_secs(8);
/// The instances the list pages through.
const INSTANCES: usize = 100;

/// One route's figures, from either load generator.
struct RouteFigures {
    requests: usize,
    failed: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    generator: &'static str,
}

fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let at = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[at.min(sorted_us.len() - 1)] as f64 / 1000.0
}

/// The in-process load generator: `connections` clients on this process's own threads.
async fn drive_in_process(url: String, token: String, connections: usize) -> RouteFigures {
    let began = Instant::now();
    let until = began + ROUTE_TIME;
    let clients = (0..connections).map(|_| {
        let (url, token) = (url.clone(), token.clone());
        actix_web::rt::spawn(async move {
            // One client, so one connection, per loop.
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let (mut latencies, mut failed) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let sent = Instant::now();
                let ok = match client
                    .get(&url)
                    .insert_header(("X-Auth-Token", token.as_str()))
                    .send()
                    .await
                {
                    Ok(mut resp) => resp.status().as_u16() == 200 && resp.body().limit(8 << 20).await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(sent.elapsed().as_micros() as u64);
                failed += usize::from(!ok);
            }
            (latencies, failed)
        })
    });
    let (mut all, mut failed) = (Vec::new(), 0);
    for joined in futures::future::join_all(clients).await {
        let (latencies, f) = joined.unwrap_or_default();
        failed += f;
        all.extend(latencies);
    }
    all.sort_unstable();
    RouteFigures {
        requests: all.len(),
        failed,
        seconds: began.elapsed().as_secs_f64(),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        generator: "in-process",
    }
}

/// wrk (2 threads) when it is installed: a load generator in its own process, as the targets
/// were measured. None when wrk is missing or its output is not understood.
async fn drive_wrk(url: String, token: String, connections: usize) -> Option<RouteFigures> {
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", ROUTE_TIME.as_secs()),
        ])
        .args(["--latency", "-H", &format!("X-Auth-Token: {token}"), &url])
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.trim().to_string())
    };
    let ms = |v: String| -> Option<f64> {
        let (number, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else {
            (v.strip_suffix('s')?, 1000.0)
        };
        number.parse::<f64>().ok().map(|n| n * factor)
    };
    let summary = text.lines().find(|l| l.contains(" requests in "))?;
    let requests: usize = summary.split_whitespace().next()?.parse().ok()?;
    let seconds: f64 = summary
        .split(" requests in ")
        .nth(1)?
        .split(',')
        .next()?
        .trim_end_matches('s')
        .parse()
        .ok()?;
    Some(RouteFigures {
        requests,
        failed: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        seconds,
        p50_ms: ms(field("50%")?)?,
        p99_ms: ms(field("99%")?)?,
        generator: "wrk",
    })
}

pub async fn run(connections: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("coffer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let _scratch = Scratch(dir.clone());
    let mut config = bench_config(&dir);
    config.auth.mode = crate::config::AuthMode::Keystone;
    config.auth.admin_password = crate::secrets::random_password(24);
    config.quota.instances = -1;
    config.quota.volumes = -1;
    let node = app::start(config, Role::All).await?;
    let root = format!("http://{}", node.http_addr.context("no API address")?);
    let password = crate::secrets::random_password(24);
    let pw = password.clone();
    node.services
        .db
        .run(move |c| crate::identity::create_user(c, "bench", "bench", &pw, "member"))
        .await?;
    let login = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "bench",
        "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "bench", "domain": {"name": "Default"}}}}});
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let mut resp = client
        .post(format!("{root}/v3/auth/tokens"))
        .send_json(&login)
        .await
        .map_err(|e| anyhow::anyhow!("login: {e}"))?;
    anyhow::ensure!(resp.status().as_u16() == 201, "login answered {}", resp.status());
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string();
    let body: serde_json::Value = resp.json().await?;
    let project = body["token"]["project"]["id"]
        .as_str()
        .context("no project id")?
        .to_string();
    let base = format!("{root}/v1.0/{project}");
    let authed = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .add_default_header(("X-Auth-Token", token.as_str()))
        .finish();
    let created = create_simulated(&authed, &base, "api", INSTANCES, 16).await;
    anyhow::ensure!(
        created.iter().all(|r| r.is_ok()),
        "creates failed: {:?}",
        created.into_iter().find_map(|r| r.err())
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_active(&authed, &base, INSTANCES).await? < INSTANCES {
        anyhow::ensure!(Instant::now() < deadline, "the instances did not all become ACTIVE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("bench api: Keystone token, {INSTANCES} simulated instances, {connections} connections, SQLite");
    for route in ["/instances?limit=20", "/datastores"] {
        let statements_before = crate::db::statements_sent();
        let url = format!("{base}{route}");
        let f = match drive_wrk(url.clone(), token.clone(), connections).await {
            Some(f) => f,
            None => drive_in_process(url, token.clone(), connections).await,
        };
        let statements = crate::db::statements_sent() - statements_before;
        println!(
            "  GET {route:<22} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  {:.2} SQL statements/request  ({} requests, {} failed, {})",
            f.requests as f64 / f.seconds,
            f.p50_ms,
            f.p99_ms,
            statements as f64 / f.requests.max(1) as f64,
            f.requests,
            f.failed,
            f.generator
        );
    }
    println!("  peak RSS {:.1} MiB", peak_rss_mib());
    node.stop().await;
    Ok(())
}
