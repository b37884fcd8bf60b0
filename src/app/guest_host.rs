//! `coffer guest`: the guest agent's host process in distributed mode. With `--instance-id ID`
//! it serves one instance's real datastore (started by the task manager, detached from it), with
//! `--simulated N` it is a pool of up to N simulated guests. Either talks to the control plane only
//! over RabbitMQ, and never touches the database.

use crate::actors::guest_pool::GuestPool;
use crate::actors::guest_session::{GuestEnv, GuestSession};
use crate::actors::heartbeat_wheel::HeartbeatWheel;
use crate::actors::service_reporter::{ReportSink, ServiceReporter};
use crate::bus::Bus;
use crate::compute::guest_process;
use crate::config::Config;
use crate::db::models::cluster::ServiceRow;
use crate::secrets::MasterKey;
use crate::telemetry::supervision::SupervisionLog;
use actix::prelude::*;
use anyhow::Context as _;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

fn guest_env(config: Config) -> anyhow::Result<GuestEnv> {
    anyhow::ensure!(
        config.bus.transport == crate::config::Transport::Amqp,
        "coffer guest talks to the control plane over RabbitMQ: set [bus] transport = \"amqp\""
    );
    let bus = Bus::amqp(&config.bus.amqp_url, &config.bus.control_exchange, config.bus.prefetch);
    let backup_store = crate::storage::BackupStore::from_config(&config.backup).map_err(anyhow::Error::msg)?;
    let supervision = Arc::new(SupervisionLog::default());
    let wheel = HeartbeatWheel::start_for(&config, &format!("guest-{}", std::process::id()), &supervision);
    Ok(GuestEnv {
        bus,
        config: Arc::new(config),
        supervision,
        backup_store,
        on_destroyed: None,
        wheel,
        supervisor: None,
    })
}

/// Waits for SIGTERM or SIGINT, or until `done` is notified.
async fn until_stopped(done: Arc<tokio::sync::Notify>) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: guest stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: guest stopping"),
        _ = done.notified() => {
            // The reply to `destroy` is on its way; let it leave.
            tokio::time::sleep(Duration::from_millis(500)).await;
            tracing::info!("server destroyed: guest exiting");
        }
    }
    Ok(())
}

/// Serves one instance whose volume the task manager prepared; returns when its server is
/// destroyed or on a signal (the datastore server keeps running then, and is re-adopted).
pub async fn run_instance_guest(config: Config, instance_id: &str) -> anyhow::Result<()> {
    crate::files::set_private_umask();
    let volume = config.instances_dir().join(instance_id);
    let (spec, key, _lock) = guest_process::claim(&volume, instance_id).map_err(anyhow::Error::msg)?;
    let mut env = guest_env(config)?;
    let done = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&done);
    env.on_destroyed = Some(Arc::new(move |_: &str, _| notify.notify_one()));
    let address = spec
        .address
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("guest.json address")?;
    let prepared = !spec.manager.is_simulated();
    let mut datastore = crate::compute::datastore_for(&env.config, instance_id, spec.manager, address, prepared, &key)
        .map_err(anyhow::Error::msg)?;
    if spec.recorded_replica {
        datastore.expect_replica();
    }
    tracing::info!(instance.id = %instance_id, datastore = %spec.manager, "guest agent serving");
    let (id, key) = (crate::ids::InstanceId::new(instance_id), Arc::new(key));
    let env = Arc::new(env);
    let _session = Supervisor::start(move |_| GuestSession::new(id, env, key, datastore));
    until_stopped(done).await
}

/// Hosts up to `capacity` simulated guests handed over on `guestpool`.
pub async fn run_simulated_pool(config: Config, capacity: usize) -> anyhow::Result<()> {
    crate::files::set_private_umask();
    // The deployment's key (it opens the guest keys task managers hand over), never a new one.
    let key_file = std::path::PathBuf::from(&config.secrets.master_key_file);
    let wait = config.secrets.wait_for_key_s;
    let master = Arc::new(MasterKey::load_waiting(&key_file, wait).await?);
    let prefix = match config.taskmanager.node_id.as_str() {
        "" => crate::config::host_name(),
        configured => configured.to_string(),
    };
    let name = format!("{prefix}-{}", std::process::id());
    let (bind, every) = (
        config.telemetry.bind.clone(),
        config.cluster.report_interval_s.max(Duration::from_millis(200)),
    );
    let env = guest_env(config)?;
    let hosted = Arc::new(AtomicI64::new(0));
    let mut report = ServiceRow::this_process("guest_pool", &name);
    report.capacity = Some(capacity as i64);
    if !bind.is_empty() {
        let addr = super::telemetry_http::start_for_pool(
            &bind,
            &name,
            Arc::clone(&env.supervision),
            Arc::clone(&hosted),
            capacity as i64,
        )?;
        report.telemetry_url = Some(format!("http://{addr}"));
    }
    let sink = ReportSink::Conductor(env.bus.clone(), Arc::clone(&master));
    let (supervision, counted) = (Arc::clone(&env.supervision), Arc::clone(&hosted));
    Supervisor::start(move |_| ServiceReporter::new(report, sink, supervision, every).with_hosted(counted));
    tracing::info!(pool = %name, capacity, "simulated guest pool serving");
    let _pool = Supervisor::start(move |_| GuestPool::new(env, master, capacity, name, hosted));
    until_stopped(Arc::new(tokio::sync::Notify::new())).await
}
