//! `coffer bench api`: the API's read routes under load, as a Keystone user sees them. A coffer
//! node (SQLite, `[auth] mode = "keystone"`) with 100 simulated instances of one project; a user
//! of that project logs in with a password once, and `connections` clients (one HTTP connection
//! each) send `GET /instances?limit=20` and then `GET /datastores` with the token for
//! [`ROUTE_TIME`] each. Prints req/s, p50/p99 latency and SQL statements per request (every
//! statement the node sent meanwhile, its background work included) per route, and the peak RSS.

use super::{bench_config, count_active, create_simulated, peak_rss_mib, Scratch};
use crate::app::{self, Role};
use anyhow::Context as _;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long each route is driven.
const ROUTE_TIME: Duration = Duration::from_secs(8);
/// The instances the list pages through.
const INSTANCES: usize = 100;

struct RouteFigures {
    requests: usize,
    failed: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl RouteFigures {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let at = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[at.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }
}

async fn drive(url: String, token: String, connections: usize) -> RouteFigures {
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
    let mut figures = RouteFigures {
        requests: 0,
        failed: 0,
        seconds: 0.0,
        latencies_us: Vec::new(),
    };
    for joined in futures::future::join_all(clients).await {
        let (latencies, failed) = joined.unwrap_or_default();
        figures.requests += latencies.len();
        figures.failed += failed;
        figures.latencies_us.extend(latencies);
    }
    figures.seconds = began.elapsed().as_secs_f64();
    figures.latencies_us.sort_unstable();
    figures
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
        let f = drive(format!("{base}{route}"), token.clone(), connections).await;
        let statements = crate::db::statements_sent() - statements_before;
        println!(
            "  GET {route:<22} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  {:.2} SQL statements/request  ({} requests, {} failed)",
            f.requests as f64 / f.seconds,
            f.percentile(0.50),
            f.percentile(0.99),
            statements as f64 / f.requests.max(1) as f64,
            f.requests,
            f.failed
        );
    }
    println!("  peak RSS {:.1} MiB", peak_rss_mib());
    node.stop().await;
    Ok(())
}
