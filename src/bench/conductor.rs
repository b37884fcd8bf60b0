//! `coffer bench conductor`: conductor ingestion. A coffer node (SQLite) with `instances`
//! simulated instances; `count` heartbeats, signed as their guests sign them, spread round-robin
//! over the instances with rising `sent`, are cast to `trove-conductor` 256 at a time (so some
//! arrive out of order, as from real guests) until every instance's newest one is applied. Over
//! the in-process bus and, with `--amqp-url`, RabbitMQ; with 1 and then 2 conductors. Prints
//! heartbeats/s, coffer's CPU seconds per 1,000 heartbeats (publishers included), and how many
//! were applied out of order — watched from outside: the applied `sent` of an instance, read every
//! 100 ms, must never go back. Beside it, RabbitMQ's raw rate: a lapin publisher and consumer doing
//! no work with the same message, persistence, confirms, prefetch and per-message acks.

use super::{bench_config, unlimited, Scratch};
use crate::actors::conductor::Conductor;
use crate::app::{self, Role};
use crate::bus::signing::{self, GuestKey};
use crate::bus::{self, AmqpBus, Envelope};
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::Db;
use actix::prelude::*;
use anyhow::Context as _;
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Casts in flight at once.
const IN_FLIGHT: usize = 256;

struct Figures {
    transport: &'static str,
    conductors: usize,
    seconds: f64,
    cpu_seconds: f64,
    count: usize,
    applied: i64,
    batches: i64,
    coalesced: i64,
    stale: i64,
    out_of_order: usize,
    /// Microseconds the batches' transactions held the database's one write lock.
    writing_us: i64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }

    fn print(&self) {
        println!(
            "  {:<8} {} conductor{}  {:>9.0} heartbeats/s  {:>7.3} s  CPU {:.3} s/1000 ({:.1} µs each)  \
             batches of {:.1} · written {} · coalesced {} · stale {} · applied out of order {}\n  \
             {:<8} the write lock held {:.1} µs per heartbeat sent (one writer: at most {:.0} heartbeats/s)",
            self.transport,
            self.conductors,
            if self.conductors == 1 { " " } else { "s" },
            self.rate(),
            self.seconds,
            self.cpu_seconds * 1000.0 / self.count as f64,
            self.cpu_seconds * 1e6 / self.count as f64,
            self.count as f64 / self.batches.max(1) as f64,
            self.applied,
            self.coalesced,
            self.stale,
            self.out_of_order,
            "",
            self.writing_us as f64 / self.count as f64,
            self.count as f64 * 1e6 / self.writing_us.max(1) as f64,
        );
    }
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

pub async fn run(count: usize, instances: usize, amqp_url: Option<String>) -> anyhow::Result<()> {
    println!(
        "bench conductor: {count} signed heartbeats for {instances} instances, SQLite, {IN_FLIGHT} casts in flight"
    );
    let transports: &[&'static str] = match amqp_url {
        Some(_) => &["memory", "amqp"],
        None => &["memory"],
    };
    let mut best_amqp: f64 = 0.0;
    for &transport in transports {
        for conductors in [1, 2] {
            let url = amqp_url.clone();
            // Each case in its own actix System, so nothing of one (a consumer) outlives it.
            let figures = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(ingest(transport, conductors, count, instances, url))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the {transport} case panicked"))??;
            figures.print();
            if transport == "amqp" {
                best_amqp = best_amqp.max(figures.rate());
            }
        }
    }
    match amqp_url {
        Some(url) => {
            let body = AmqpBus::wire_body(&sample_heartbeat());
            let (raw, cpu) = raw_rate(&url, count, &body).await?;
            println!(
                "  RabbitMQ raw (lapin, {} B persistent, confirms, prefetch 64, per-message acks, no work): \
                 {raw:.0} messages/s, CPU {:.1} µs each",
                body.len(),
                cpu * 1e6 / count as f64
            );
            println!(
                "  coffer over RabbitMQ reaches {:.0} % of the raw rate",
                100.0 * best_amqp / raw
            );
        }
        None => println!("  (RabbitMQ not measured: pass --amqp-url, e.g. from scripts/rabbitmq-test-server.sh start)"),
    }
    println!("  peak RSS {:.1} MiB", super::peak_rss_mib());
    Ok(())
}

fn heartbeat(instance_id: &str, sent: f64) -> Envelope {
    let args = json!({"instance_id": instance_id, "payload": {"service_status": "healthy"}, "sent": sent});
    Envelope::new("heartbeat", args)
}

fn sample_heartbeat() -> Envelope {
    let id = uuid::Uuid::new_v4().to_string();
    let mut envelope = heartbeat(&id, 1.0e9);
    signing::sign(&mut envelope, &id, &GuestKey::generate());
    envelope
}

async fn ingest(
    transport: &'static str,
    conductors: usize,
    count: usize,
    instances: usize,
    amqp_url: Option<String>,
) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!("coffer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let _scratch = Scratch(dir.clone());
    let mut config = bench_config(&dir);
    config.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(3600.0);
    config.guest.heartbeat_expiry_s = std::time::Duration::from_secs_f64(36_000.0);
    if let Some(url) = amqp_url.filter(|_| transport == "amqp") {
        config.bus.transport = crate::config::Transport::Amqp;
        config.bus.amqp_url = url;
    }
    let node = app::start(config, Role::All).await?;
    let services = node.services.clone();
    for _ in 1..conductors {
        let more = services.clone();
        Supervisor::start(move |_| Conductor::new(more));
    }
    let base = format!("http://{}/v1.0/bench", node.http_addr.context("no API address")?);
    let ids = make_instances(&services.db, &base, instances).await?;
    let mut keys = Vec::with_capacity(ids.len());
    for id in &ids {
        let key = services.guests.keys().find(&services.db, id).await;
        keys.push(
            key.map_err(anyhow::Error::msg)?
                .context("an instance without a guest key")?,
        );
    }
    // Round r of instance i is sent at base + r ms: later rounds are newer.
    let first = chrono::Utc::now().timestamp() as f64 + 100_000.0;
    let envelopes: Vec<Envelope> = (0..count)
        .map(|k| {
            let (i, round) = (k % ids.len(), k / ids.len());
            let mut envelope = heartbeat(&ids[i], first + round as f64 * 0.001);
            signing::sign(&mut envelope, &ids[i], &keys[i]);
            envelope
        })
        .collect();
    let newest: HashMap<String, f64> = (0..ids.len().min(count))
        .map(|i| (ids[i].clone(), first + ((count - 1 - i) / ids.len()) as f64 * 0.001))
        .collect();
    let m = &services.metrics;
    let counters = || {
        (
            m.heartbeats_applied.load(Ordering::Relaxed),
            m.heartbeats_coalesced.load(Ordering::Relaxed),
            m.heartbeats_stale.load(Ordering::Relaxed),
            m.heartbeat_batches.load(Ordering::Relaxed),
            m.heartbeat_write_us.load(Ordering::Relaxed),
        )
    };
    let before = counters();
    let (cpu_before, began) = (cpu_seconds(), Instant::now());
    let watch = tokio::spawn(watch_applied(services.db.clone(), newest));
    let bus = services.bus.clone();
    stream::iter(envelopes)
        .map(|e| {
            let bus = bus.clone();
            async move { bus.cast(bus::CONDUCTOR, e).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    let out_of_order = watch.await??;
    let (seconds, cpu_seconds) = (began.elapsed().as_secs_f64(), cpu_seconds() - cpu_before);
    let after = counters();
    node.stop().await;
    Ok(Figures {
        transport,
        conductors,
        seconds,
        cpu_seconds,
        count,
        applied: after.0 - before.0,
        coalesced: after.1 - before.1,
        stale: after.2 - before.2,
        batches: after.3 - before.3,
        out_of_order,
        writing_us: after.4 - before.4,
    })
}

/// Creates the instances through the API and waits for each one's first heartbeat.
async fn make_instances(db: &Db, base: &str, instances: usize) -> anyhow::Result<Vec<String>> {
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    unlimited(&client, base).await?;
    let created = super::create_simulated(&client, base, "hb", instances, 64).await;
    created.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let seen = db.run(ServiceStatusRow::heartbeats_sent).await?;
        if seen.len() == instances && seen.iter().all(|(_, sent)| *sent > 0.0) {
            return Ok(seen.into_iter().map(|(id, _)| id).collect());
        }
        anyhow::ensure!(Instant::now() < deadline, "instances not heartbeating after 300 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads every instance's applied `sent` each 100 ms until each has its newest; returns how many
/// times one went back (a heartbeat applied after a newer one).
async fn watch_applied(db: Db, newest: HashMap<String, f64>) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut out_of_order = 0;
    loop {
        let seen = db.run(ServiceStatusRow::heartbeats_sent).await?;
        let mut done = 0;
        for (id, sent) in seen {
            let Some(want) = newest.get(&id) else { continue };
            if last.get(&id).is_some_and(|before| sent < *before) {
                out_of_order += 1;
            }
            if sent >= *want {
                done += 1;
            }
            last.insert(id, sent);
        }
        if done == newest.len() {
            return Ok(out_of_order);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {} instances up to date after 900 s",
            newest.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// RabbitMQ's rate for `count` messages of `body` with no work: returns (messages/s, CPU seconds).
async fn raw_rate(url: &str, count: usize, body: &[u8]) -> anyhow::Result<(f64, f64)> {
    use lapin::options::{
        BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
        QueueDeleteOptions, QueuePurgeOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    const QUEUE: &str = "coffer-bench-raw";
    let runtime = async_rs::Runtime::tokio_with_handle(tokio::runtime::Handle::current());
    let conn = Connection::connect_with_runtime(url, ConnectionProperties::default(), runtime).await?;
    let publish = conn.create_channel().await?;
    publish.confirm_select(ConfirmSelectOptions::default()).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    publish
        .queue_declare(QUEUE.into(), durable, FieldTable::default())
        .await?;
    publish.queue_purge(QUEUE.into(), QueuePurgeOptions::default()).await?;
    let consume = conn.create_channel().await?;
    consume.basic_qos(64, BasicQosOptions::default()).await?;
    let mut consumer = consume
        .basic_consume(
            QUEUE.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let (cpu_before, began) = (cpu_seconds(), Instant::now());
    let received = tokio::spawn(async move {
        for _ in 0..count {
            match consumer.next().await {
                Some(Ok(delivery)) => {
                    delivery.acker.ack(Default::default()).await?;
                }
                Some(Err(e)) => return Err(anyhow::Error::from(e)),
                None => anyhow::bail!("the raw consumer ended early"),
            }
        }
        Ok(())
    });
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    stream::iter(0..count)
        .map(|_| {
            let (channel, props) = (publish.clone(), props.clone());
            async move {
                let confirm = channel
                    .basic_publish("".into(), QUEUE.into(), BasicPublishOptions::default(), body, props)
                    .await?;
                confirm.await.map(|_| ())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    received.await??;
    let (seconds, cpu) = (began.elapsed().as_secs_f64(), cpu_seconds() - cpu_before);
    publish
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await?;
    Ok((count as f64 / seconds, cpu))
}
