//! `coffer bench guests`: `count` simulated instances created through the API, each with its
//! guest session in this process heartbeating every 30 s (the default interval), then held for
//! `hold` while the figures are taken: coffer's CPU (% of one core, the whole process: API,
//! task manager, conductor and the guests), RSS and what one guest costs of it (and of the heap
//! in use: RSS also holds what the allocator kept of the creates' peak), heartbeats applied per
//! second, heartbeats dropped as stale, and instances whose heartbeat expired
//! (there must be none).

use super::{bench_config, census, cpu_seconds, create_simulated, peak_rss_mib, rss_mib, unlimited, Scratch};
use crate::app::{self, Role};
use anyhow::Context as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Creates sent before the bench waits for them to be ACTIVE.
const WAVE: usize = 10_000;

/// jemalloc's account of the heap, in MiB: what it handed out and was not given back
/// (`allocated`), the pages those lie in (`active`: the rest of them is fragmentation), its own
/// bookkeeping (`metadata`), and what of all it maps is resident (`resident`: beyond `active`
/// and `metadata`, freed pages not yet given back to the kernel).
struct Heap {
    allocated: f64,
    active: f64,
    metadata: f64,
    resident: f64,
}

#[cfg(feature = "jemalloc")]
fn heap_mib() -> Option<Heap> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    Some(Heap {
        allocated: mib(stats::allocated::read().ok()?),
        active: mib(stats::active::read().ok()?),
        metadata: mib(stats::metadata::read().ok()?),
        resident: mib(stats::resident::read().ok()?),
    })
}

/// Not known on another allocator (a build for a heap profiler).
#[cfg(not(feature = "jemalloc"))]
fn heap_mib() -> Option<Heap> {
    None
}

pub async fn run(count: usize, concurrency: usize, hold: Duration) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("coffer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let _scratch = Scratch(dir.clone());
    let config = bench_config(&dir);
    let expiry = config.guest.heartbeat_expiry_s;
    let interval = config.guest.heartbeat_interval_s;
    let node = app::start(config, Role::All).await?;
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let client = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
    unlimited(&client, &base).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, idle_heap) = (rss_mib(), heap_mib());
    // Created in waves of WAVE, each waited for until ACTIVE: accepted creates far ahead of the
    // flows that finish them would only have the flows queue for database connections.
    let (began, db) = (Instant::now(), node.services.db.clone());
    let mut accepting = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(3600);
    for wave in 0..count.div_ceil(WAVE) {
        let size = WAVE.min(count - wave * WAVE);
        let sent = Instant::now();
        let created = create_simulated(&client, &base, &format!("guest{wave}"), size, concurrency).await;
        accepting += sent.elapsed();
        anyhow::ensure!(
            created.iter().all(|r| r.is_ok()),
            "creates failed: {:?}",
            created.into_iter().find_map(|r| r.err())
        );
        let want = (wave * WAVE + size) as i64;
        loop {
            // A census that finds no connection free is taken again a second later.
            if let Ok((running, _)) = db.run(move |c| census(c, expiry)).await {
                if running >= want {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "only {running} of {want} running after an hour"
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let accepted = accepting;
    let all_running = began.elapsed();
    // One interval for the creates' work to drain, then the hold.
    tokio::time::sleep(interval).await;
    let metrics = node.services.metrics.clone();
    let (applied_before, stale_before) = (
        metrics.heartbeats_applied.load(Ordering::Relaxed),
        metrics.heartbeats_stale.load(Ordering::Relaxed),
    );
    let (cpu_before, held_from) = (cpu_seconds(), Instant::now());
    let settled_rss = rss_mib();
    tokio::time::sleep(hold).await;
    // The allocator gave back what the creates freed by now (jemalloc purges what stays free
    // for 10 s, on its background thread).
    let (active_rss, active_heap) = (rss_mib(), heap_mib());
    let held = held_from.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu_before) / held * 100.0;
    let applied = metrics.heartbeats_applied.load(Ordering::Relaxed) - applied_before;
    let stale = metrics.heartbeats_stale.load(Ordering::Relaxed) - stale_before;
    let (running, expired) = db.run(move |c| census(c, expiry)).await?;
    println!(
        "bench guests: {count} simulated guests in this process, heartbeat every {} s, held {:.0} s, SQLite",
        interval.as_secs(),
        held
    );
    println!(
        "  creates accepted in   {:.1} s ({:.0}/s, in waves of {WAVE}); all ACTIVE after {:.1} s",
        accepted.as_secs_f64(),
        count as f64 / accepted.as_secs_f64(),
        all_running.as_secs_f64()
    );
    println!("  CPU                   {cpu:.1} % of one core (the whole process)");
    println!(
        "  heartbeats applied    {:.0}/s (expected {:.0}/s), stale {stale}",
        applied as f64 / held,
        count as f64 / interval.as_secs_f64()
    );
    println!("  running {running}, expired {expired}");
    println!(
        "  RSS idle {idle_rss:.1} MiB; with the guests {settled_rss:.1} MiB an interval after the creates, {:.1} MiB at the hold's end ({:.2} KiB per guest); peak {:.1} MiB",
        active_rss,
        (active_rss - idle_rss) * 1024.0 / count.max(1) as f64,
        peak_rss_mib()
    );
    if let (Some(idle), Some(held)) = (idle_heap, active_heap) {
        // RSS also holds what the allocator keeps of the creates' peak; this is what the
        // guests hold, and where the rest of the allocator's resident pages are.
        println!(
            "  heap in use idle {:.1} MiB; at the hold's end {:.1} MiB ({:.2} KiB per guest)",
            idle.allocated,
            held.allocated,
            (held.allocated - idle.allocated) * 1024.0 / count.max(1) as f64
        );
        println!(
            "  allocator at the hold's end: {:.1} MiB resident = {:.1} in use + {:.1} fragmentation (free space in used pages) + {:.1} metadata + {:.1} free pages not yet returned",
            held.resident,
            held.allocated,
            held.active - held.allocated,
            held.metadata,
            held.resident - held.active - held.metadata
        );
    }
    node.stop().await;
    Ok(())
}
