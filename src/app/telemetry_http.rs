//! `/healthz` and `/metrics` of a process that does not serve the API (conductor, task manager,
//! guest pool), on `[telemetry] bind`: operators and Prometheus see every process, not only the
//! api's.

use crate::db::models::flow::Flow;
use crate::db::Db;
use crate::services::{Metrics, Services};
use crate::telemetry::supervision::SupervisionLog;
use crate::web::metrics::{render, Extra};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// What a process shows.
#[derive(Clone)]
struct Shown {
    role: String,
    node_id: String,
    supervision: Arc<SupervisionLog>,
    metrics: Option<Arc<Metrics>>,
    db: Option<Db>,
    /// A pool's (hosted, capacity).
    pool: Option<(Arc<AtomicI64>, i64)>,
}

async fn healthz(shown: web::Data<Shown>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "role": shown.role, "node_id": shown.node_id}))
}

async fn metrics(shown: web::Data<Shown>) -> HttpResponse {
    let flows = match &shown.db {
        Some(db) => db.run(Flow::count_by_status).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut extra: Vec<Extra> = Vec::new();
    if let Some((hosted, capacity)) = &shown.pool {
        extra.push((
            "coffer_pool_guests_hosted",
            "Guests this pool hosts.",
            "gauge",
            hosted.load(Ordering::Relaxed) as f64,
        ));
        extra.push((
            "coffer_pool_capacity",
            "Guests this pool hosts at most.",
            "gauge",
            *capacity as f64,
        ));
    }
    let text = render(&shown.supervision, shown.metrics.as_deref(), &flows, &extra);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text)
}

fn serve(bind: &str, shown: Shown) -> anyhow::Result<SocketAddr> {
    let data = web::Data::new(shown);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .with_context(|| format!("binding [telemetry] bind = {bind}"))?;
    let addr = server.addrs().first().copied().context("telemetry address")?;
    actix_web::rt::spawn(server.run());
    tracing::info!(telemetry.bind = %addr, "/healthz and /metrics on http://{addr}");
    Ok(addr)
}

/// Serves a control-plane process (conductor, task manager).
pub fn start_for_node(services: &Services, bind: &str) -> anyhow::Result<SocketAddr> {
    serve(
        bind,
        Shown {
            role: services.service.role.clone(),
            node_id: services.node_id.clone(),
            supervision: Arc::clone(&services.supervision),
            metrics: Some(Arc::clone(&services.metrics)),
            db: Some(services.db.clone()),
            pool: None,
        },
    )
}

/// Serves a guest pool.
pub fn start_for_pool(
    bind: &str,
    node_id: &str,
    supervision: Arc<SupervisionLog>,
    hosted: Arc<AtomicI64>,
    capacity: i64,
) -> anyhow::Result<SocketAddr> {
    serve(
        bind,
        Shown {
            role: "guest_pool".into(),
            node_id: node_id.to_string(),
            supervision,
            metrics: None,
            db: None,
            pool: Some((hosted, capacity)),
        },
    )
}
