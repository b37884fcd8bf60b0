//! Starting a coffer node: the pool, the bus, the supervised actors of the chosen role and the
//! HTTP server, all in the current actix System. `main` and the tests both start coffer here.

mod checks;
mod guest_host;
mod http;
mod node_id;
mod telemetry_http;

pub use guest_host::{run_instance_guest, run_simulated_pool};

use crate::actors::backup_scheduler::BackupScheduler;
use crate::actors::compute::{AdoptServers, Compute};
use crate::actors::conductor::Conductor;
use crate::actors::guest_watch::GuestWatch;
use crate::actors::service_reporter::{ReportSink, ServiceReporter};
use crate::actors::task_manager::TaskManager;
use crate::bus::Bus;
use crate::compute::messages::ComputeHandle;
use crate::config::Config;
use crate::db::models::catalog::DatastoreVersion;
use crate::db::models::cluster::ServiceRow;
use crate::db::Db;
use crate::guest_link::{GuestKeys, GuestLink};
use crate::secrets::MasterKey;
use crate::services::{Metrics, Services};
use crate::telemetry::supervision::SupervisionLog;
use crate::testing::FaultInjector;
use actix::prelude::*;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Which components this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Api,
    TaskManager,
    Conductor,
}

impl Role {
    /// The role's name in the service list.
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::TaskManager => "taskmanager",
            Role::Conductor => "conductor",
        }
    }

    /// True when the role claims flows (and so owns leases under its node id).
    fn runs_flows(self) -> bool {
        matches!(self, Role::All | Role::TaskManager)
    }
}

/// A started node: its shared services, actors and (if it serves the API) the HTTP server.
pub struct Node {
    pub services: Services,
    pub compute: Option<Addr<Compute>>,
    pub task_manager: Option<Addr<TaskManager>>,
    pub conductor: Option<Addr<Conductor>>,
    pub backup_scheduler: Option<Addr<BackupScheduler>>,
    pub http: Option<actix_web::dev::ServerHandle>,
    pub http_addr: Option<SocketAddr>,
    /// The API's own connection pool (when this node serves the API).
    pub api_db: Option<Db>,
    /// Where `/healthz` and `/metrics` are served apart from the API (`[telemetry] bind`).
    pub telemetry_addr: Option<SocketAddr>,
    /// Holds this process's node id slot while the node lives.
    _node_id: node_id::NodeId,
}

impl Node {
    /// Graceful stop: in-flight HTTP requests finish, actors stop at a step boundary (flows are
    /// already persisted and resume on the next start).
    pub async fn stop(&self) {
        if let Some(http) = &self.http {
            http.stop(true).await;
        }
    }
}

fn build_services(config: Config, db: Db, node_id: String, role: Role) -> anyhow::Result<Services> {
    let faults = if config.testing.enabled {
        FaultInjector::parse(&config.testing.fail_at).map_err(anyhow::Error::msg)?
    } else {
        FaultInjector::default()
    };
    let secrets = Arc::new(MasterKey::load_or_create(std::path::Path::new(
        &config.secrets.master_key_file,
    ))?);
    let service = Arc::new(ServiceRow::this_process(role.name(), &node_id));
    let bus = match config.bus.transport {
        crate::config::Transport::Amqp => {
            Bus::amqp(&config.bus.amqp_url, &config.bus.control_exchange, config.bus.prefetch)
        }
        crate::config::Transport::Memory => Bus::memory(config.bus.queue_capacity),
    };
    let backup_store = crate::storage::BackupStore::from_config(&config.backup).map_err(anyhow::Error::msg)?;
    let keys = Arc::new(GuestKeys::new(Arc::clone(&secrets)));
    let guests = GuestLink::new(bus.clone(), db.clone(), keys, config.bus.sign_guest_messages);
    // Every event from the first on goes to the shared database (the reporter stores them).
    let supervision = Arc::new(SupervisionLog::default());
    supervision.forward_events();
    Ok(Services {
        config: Arc::new(config),
        db,
        bus,
        supervision,
        faults: Arc::new(faults),
        metrics: Arc::new(Metrics::default()),
        wakeups: Arc::default(),
        secrets,
        guests,
        backup_store,
        node_id,
        service,
    })
}

/// Starts `role` inside the current actix System.
pub async fn start(config: Config, role: Role) -> anyhow::Result<Node> {
    crate::files::set_private_umask();
    // Walking volume trees and reading the host's locales is blocking work.
    let files_config = config.clone();
    tokio::task::spawn_blocking(move || {
        crate::files::fix_at_start(&files_config);
        crate::guest::charsets::load_installed_locales();
    })
    .await
    .context("fixing file modes at start")?;
    if role != Role::All && config.bus.transport == crate::config::Transport::Memory {
        anyhow::bail!(
            "coffer {role:?} runs one role of a distributed deployment, which needs [bus] transport = \"amqp\"; \
             with the in-process bus run `coffer` (all roles in one process)"
        );
    }
    let serves_api = matches!(role, Role::All | Role::Api);
    let (db, api_db) = open_databases(&config, serves_api).await?;
    if !config.bus.sign_guest_messages {
        tracing::warn!("[bus] sign_guest_messages = false: guest messages are neither signed nor checked");
    }
    checks::refuse_a_second_key(&config, &db).await?;
    // Node id slots and the key file are files: claimed off the async threads.
    let (services, node_id) = tokio::task::spawn_blocking(move || {
        let node_id = node_id::claim(&config)?;
        let services = build_services(config, db, node_id.id.clone(), role)?;
        Ok::<_, anyhow::Error>((services, node_id))
    })
    .await
    .context("node start")??;
    tracing::info!(node.id = %services.node_id, db.backend = services.db.backend, "coffer node starting");
    checks::check_master_key(&services).await?;
    if role.runs_flows() && !services.config.taskmanager.node_id.is_empty() {
        checks::check_node_id_free(&services).await?;
    }
    if serves_api {
        bootstrap_identity(&services).await?;
    }
    let installed = crate::compute::process::installed_versions();
    let detected = installed.clone();
    services
        .db
        .run(move |c| DatastoreVersion::sync_installed(c, &detected))
        .await?;
    tracing::info!(datastores.installed = ?installed, "datastore versions detected");
    seed_parameters(&services).await;

    let workers = match role.runs_flows() {
        true => Some(start_workers(&services).await?),
        false => None,
    };
    let conductor = matches!(role, Role::All | Role::Conductor).then(|| {
        let conductor_services = services.clone();
        Supervisor::start(move |_| Conductor::new(conductor_services))
    });
    let (http, http_addr) = match api_db.clone() {
        Some(api_db) => {
            let (h, a) = http::start(&services, api_db)?;
            (Some(h), Some(a))
        }
        None => (None, None),
    };
    let telemetry_addr = match (serves_api, services.config.telemetry.bind.as_str()) {
        (false, bind) if !bind.is_empty() => Some(telemetry_http::start_for_node(&services, bind)?),
        _ => None,
    };
    start_reporting(&services, telemetry_addr.or(http_addr));
    let (compute, task_manager, backup_scheduler) = match workers {
        Some((c, t, b)) => (Some(c), Some(t), Some(b)),
        None => (None, None, None),
    };
    Ok(Node {
        services,
        compute,
        task_manager,
        conductor,
        backup_scheduler,
        http,
        http_addr,
        api_db,
        telemetry_addr,
        _node_id: node_id,
    })
}

/// The node's own pool and, when it serves the API, the API's (migrating first).
async fn open_databases(config: &Config, serves_api: bool) -> anyhow::Result<(Db, Option<Db>)> {
    let (url, size, api_size) = (
        config.database.url.clone(),
        config.database.internal_pool_size,
        config.database.pool_size,
    );
    let acquire = config.database.acquire_timeout_ms;
    let pools = tokio::task::spawn_blocking(move || {
        let internal = Db::connect(&url, size, acquire)?;
        let api = match serves_api {
            true => Some(internal.another_pool(api_size)?),
            false => None,
        };
        Ok::<_, crate::db::DbError>((internal, api))
    })
    .await
    .context("database start")??;
    Ok(pools)
}

/// The task manager's role: compute (the servers and their guest sessions, re-adopted), the
/// task manager, the backup scheduler beside it and, with guests in processes, the guest watch.
async fn start_workers(
    services: &Services,
) -> anyhow::Result<(Addr<Compute>, Addr<TaskManager>, Addr<BackupScheduler>)> {
    let compute = Compute::new(services.clone()).start();
    compute
        .send(AdoptServers)
        .await
        .context("compute")?
        .map_err(anyhow::Error::msg)
        .context("re-adopting servers")?;
    let (tm_services, tm_compute) = (services.clone(), ComputeHandle::from(&compute));
    let task_manager = Supervisor::start(move |_| TaskManager::new(tm_services, tm_compute));
    let scheduler_services = services.clone();
    let backup_scheduler = Supervisor::start(move |_| BackupScheduler::new(scheduler_services));
    if services.config.compute.guest_host == crate::config::GuestHost::Process {
        let watch_services = services.clone();
        Supervisor::start(move |_| GuestWatch::new(watch_services));
    }
    Ok((compute, task_manager, backup_scheduler))
}

/// Keeps this process in the service list (and its events in the database).
fn start_reporting(services: &Services, telemetry: Option<SocketAddr>) {
    let mut report = (*services.service).clone();
    report.telemetry_url = telemetry.map(|a| format!("http://{a}"));
    let (sink, supervision) = (
        ReportSink::Db {
            db: services.db.clone(),
            events_kept: services.config.api.events_kept,
        },
        Arc::clone(&services.supervision),
    );
    let every = services
        .config
        .cluster
        .report_interval_s
        .max(Duration::from_millis(200));
    Supervisor::start(move |_| ServiceReporter::new(report, sink, supervision, every));
}

/// Creates the admin user on a fresh database, with the configured password or a generated one
/// written (0600) to `[auth] admin_password_file`; says loudly when authentication is off.
async fn bootstrap_identity(services: &Services) -> anyhow::Result<()> {
    let auth = &services.config.auth;
    if auth.mode == crate::config::AuthMode::Noauth {
        tracing::warn!("[auth] mode = \"noauth\": ANY caller may act for ANY project. For local development only.");
    }
    let (password, file) = (
        auth.admin_password.clone(),
        std::path::PathBuf::from(&auth.admin_password_file),
    );
    let created = services
        .db
        .run(move |c| {
            if !crate::identity::needs_bootstrap(c)? {
                return Ok(None);
            }
            let password = if password.is_empty() {
                crate::secrets::random_password(24)
            } else {
                password
            };
            crate::identity::bootstrap_admin(c, &password)?;
            Ok(Some(password))
        })
        .await?;
    if let Some(password) = created {
        if auth.admin_password.is_empty() {
            write_private(&file, &password)?;
            tracing::info!(auth.admin_password_file = %file.display(), "created user admin (project admin); its password is in {}", file.display());
        } else {
            tracing::info!("created user admin (project admin) with the configured password");
        }
    }
    Ok(())
}

/// Writes a file only its owner can read, whole, in a directory only its owner can enter.
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::files::create_dirs(dir, 0o700)?;
    }
    crate::files::write_whole(path, format!("{contents}\n").as_bytes(), 0o600, None)?;
    Ok(())
}

/// The advisory lock the catalogs are seeded under (any constant coffer owns).
const SEED_LOCK: i64 = 0x636f_6666_6573; // "coffes"

/// Makes every datastore version's parameter catalog the one coffer ships (rows an admin wrote
/// stay); a failure here is logged, and the catalogs stay as they were.
async fn seed_parameters(services: &Services) {
    let seeded = services
        .db
        .run(|c| {
            crate::db::write_tx(c, |c| {
                // Processes starting together seed one after the other; the later ones find
                // the catalogs as shipped and write nothing.
                crate::db::exclusive(c, SEED_LOCK)?;
                let mut written = 0;
                for (_, versions) in crate::db::models::catalog::Datastore::all_with_versions(c)? {
                    for version in versions {
                        let Some(manager) = crate::manager::Manager::parse(&version.manager) else {
                            continue;
                        };
                        let params = crate::parameters::builtin(manager);
                        written += crate::db::models::configuration::CatalogRow::seed(c, &version.id, &params)?;
                    }
                }
                Ok(written)
            })
        })
        .await;
    match seeded {
        Ok(n) => tracing::info!(parameters.seeded = n, "configuration parameter catalogs seeded"),
        Err(e) => tracing::warn!("configuration parameter catalogs not seeded: {e}"),
    }
}
