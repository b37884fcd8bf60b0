//! `coffer bench backup --count <MB>`: backup and restore throughput of a real PostgreSQL
//! instance holding about `count` MB, next to PostgreSQL's own `pg_basebackup` writing a tar
//! to a local file on the same machine.

use super::{bench_config, unlimited, Scratch};
use crate::app::{self, Role};
use anyhow::Context as _;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MB: f64 = 1024.0 * 1024.0;

async fn get(client: &awc::Client, url: &str) -> anyhow::Result<Value> {
    let mut resp = client.get(url).send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(resp.json().limit(1 << 20).await?)
}

async fn post(client: &awc::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let mut resp = client
        .post(url)
        .send_json(&body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(resp.status().is_success(), "POST {url} answered {}", resp.status());
    Ok(resp.json().limit(1 << 20).await?)
}

/// Waits until the instance is ACTIVE; returns its address.
async fn wait_active(client: &awc::Client, base: &str, id: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(7200);
    loop {
        let view = get(client, &format!("{base}/instances/{id}")).await?;
        match view["instance"]["status"].as_str() {
            Some("ACTIVE") => return Ok(view["instance"]["ip"][0].as_str().context("no address")?.to_string()),
            Some("ERROR") => anyhow::bail!("instance failed: {}", view["instance"]["fault"]),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "instance {id} not ACTIVE in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the backup has ended; returns its view.
async fn wait_backup(client: &awc::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    loop {
        let view = get(client, &format!("{base}/backups/{id}")).await?;
        match view["backup"]["status"].as_str() {
            Some("COMPLETED") => return Ok(view["backup"].clone()),
            Some("FAILED") if view["backup"]["fault"].is_object() => {
                anyhow::bail!("backup failed: {}", view["backup"]["fault"])
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub async fn run(size_mb: usize) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("cb-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let _scratch = Scratch(dir.clone());
    let mut config = bench_config(&dir);
    config.compute.address_pool = "127.77.241.0/24".into();
    config.backup.local_dir = dir.join("backups").display().to_string();
    let node = app::start(config, Role::All).await?;
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let client = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
    unlimited(&client, &base).await?;

    let body = json!({"instance": {"name": "bench-src", "flavorRef": "3", "volume": {"size": 10},
        "datastore": {"type": "postgresql"}, "databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "bench-pw", "databases": [{"name": "shop"}]}]}});
    let created = post(&client, &format!("{base}/instances"), body).await?;
    let id = created["instance"]["id"].as_str().context("no id")?.to_string();
    let ip = wait_active(&client, &base, &id).await?;

    // About size_mb of rows that compress like real data (hex digests), not like zeros.
    let (pg, conn) = tokio_postgres::Config::new()
        .host(&ip)
        .user("app")
        .password("bench-pw")
        .dbname("shop")
        .connect(tokio_postgres::NoTls)
        .await?;
    actix_web::rt::spawn(async move {
        let _ = conn.await;
    });
    let rows = size_mb * 1024 * 1024 / 300;
    let filling = Instant::now();
    pg.batch_execute(&format!(
        "CREATE TABLE big AS SELECT i, md5(random()::text) || md5(random()::text) || md5(random()::text) \
         || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) \
         || md5(random()::text) AS payload FROM generate_series(1, {rows}) AS i"
    ))
    .await?;
    let volume = node.services.config.instances_dir().join(&id);
    let cluster_bytes = crate::guest::server::dir_usage_bytes(&volume.join("data")) as f64;
    println!(
        "bench backup: PostgreSQL instance with {rows} rows, data directory {:.0} MB (filled in {:.0} s)",
        cluster_bytes / MB,
        filling.elapsed().as_secs_f64()
    );

    // PostgreSQL's own tool to a local file, as the baseline.
    let native_dir = dir.join("native");
    std::fs::create_dir_all(&native_dir)?;
    // As coffer's admin over the instance's socket, exactly as coffer's backup runs it.
    let password = crate::guest::server::read_sealed(&volume.join("admin.secret"), &node.services.secrets)
        .map_err(anyhow::Error::msg)?;
    let began = Instant::now();
    let status = std::process::Command::new(crate::guest::postgres::bin_dir().join("pg_basebackup"))
        .env("PGPASSWORD", password.trim())
        .arg("-h")
        .arg(volume.join("run"))
        .args(["-U", "os_admin", "-D"])
        .arg(&native_dir)
        .args(["-F", "t", "-X", "fetch", "-c", "fast"])
        .status()?;
    anyhow::ensure!(status.success(), "pg_basebackup failed: {status}");
    let native = began.elapsed().as_secs_f64();
    // Throughput is counted over what the dump holds (the tar), for all three figures.
    let tar_bytes = crate::guest::server::dir_usage_bytes(&native_dir) as f64;
    println!(
        "  pg_basebackup → local tar file: {native:.1} s, {:.0} MB/s ({:.0} MB of dump)",
        tar_bytes / MB / native,
        tar_bytes / MB
    );
    std::fs::remove_dir_all(&native_dir).ok();

    let began = Instant::now();
    let b = post(
        &client,
        &format!("{base}/backups"),
        json!({"backup": {"name": "bench", "instance": id}}),
    )
    .await?;
    let bid = b["backup"]["id"].as_str().context("no backup id")?.to_string();
    let done = wait_backup(&client, &base, &bid).await?;
    let backup_s = began.elapsed().as_secs_f64();
    let stored = done["size"].as_f64().unwrap_or(0.0) * 1024.0;
    println!(
        "  coffer backup (pg_basebackup → zstd → SHA-256 → local object store): {backup_s:.1} s, {:.0} MB/s, stored {stored:.0} MB",
        tar_bytes / MB / backup_s
    );

    let began = Instant::now();
    let body = json!({"instance": {"name": "bench-restore", "flavorRef": "3", "volume": {"size": 10},
        "restorePoint": {"backupRef": bid}}});
    let restored = post(&client, &format!("{base}/instances"), body).await?;
    let rid = restored["instance"]["id"].as_str().context("no id")?.to_string();
    wait_active(&client, &base, &rid).await?;
    let restore_s = began.elapsed().as_secs_f64();
    println!(
        "  coffer restore (fetch → verify → unpack → recover → ACTIVE): {restore_s:.1} s, {:.0} MB/s",
        tar_bytes / MB / restore_s
    );
    println!("  peak RSS of coffer {:.1} MiB", super::peak_rss_mib());
    node.stop().await;
    Ok(())
}
