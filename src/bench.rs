//! `coffer bench <scenario>`: starts coffer in this process on a fresh SQLite database, drives it
//! over real HTTP, and prints figures (run it on the release build).
//!
//! - `create`: `count` simulated instances created with `concurrency` requests in flight, timed
//!   until every one is ACTIVE; prints the time, the create rate and the peak RSS.

use crate::app::{self, Role};
use crate::config::Config;
use anyhow::Context as _;
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

pub async fn run(scenario: &str, count: usize, concurrency: usize) -> anyhow::Result<()> {
    match scenario {
        "create" => create(count, concurrency.max(1)).await,
        other => anyhow::bail!("unknown scenario {other:?}; known: create"),
    }
}

fn bench_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.api.bind = "127.0.0.1:0".into();
    config.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    config.database.pool_size = 8;
    config.compute.data_dir = dir.join("instances").display().to_string();
    config.compute.simulated_prepare_ms = 100;
    config.log.filter = "warn".into();
    config
}

async fn create(count: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("coffer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let node = app::start(bench_config(&dir), Role::All).await?;
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let began = Instant::now();
    let created: Vec<anyhow::Result<()>> = stream::iter(0..count)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/instances"));
            async move {
                let body = json!({"instance": {"name": format!("bench-{i}"), "flavorRef": "1",
                    "volume": {"size": 1}, "datastore": {"type": "simulated"}}});
                let resp = client
                    .post(url)
                    .send_json(&body)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(resp.status().as_u16() == 200, "create answered {}", resp.status());
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let accepted = began.elapsed();
    let failed = created.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} creates failed: {:?}",
        created.into_iter().find_map(|r| r.err())
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let active = count_active(&client, &base, count).await?;
        if active == count {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {active} of {count} ACTIVE after 600 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = began.elapsed();
    println!("bench create: {count} simulated instances, {concurrency} concurrent requests, SQLite");
    println!(
        "  all creates accepted (HTTP 200) in {:.2} s ({:.0}/s)",
        accepted.as_secs_f64(),
        count as f64 / accepted.as_secs_f64()
    );
    println!("  all ACTIVE after     {:.2} s", total.as_secs_f64());
    println!("  peak RSS             {:.1} MiB", peak_rss_mib());
    node.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn count_active(client: &awc::Client, base: &str, count: usize) -> anyhow::Result<usize> {
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
