//! `GET /metrics`: Prometheus text — actors alive and restarted, flows by state, heartbeats;
//! [`render`] also serves the processes without the API (`[telemetry] bind`).

use super::AppState;
use crate::db::models::flow::Flow;
use crate::error::ApiError;
use crate::services::Metrics;
use crate::telemetry::supervision::SupervisionLog;
use actix_web::{web, HttpResponse};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// `GET /healthz`: the API process answers (liveness, for load balancers and probes).
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "The process lives.", body = super::openapi::schemas::operations::Health)),
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    // The public API says no more than that it lives (no host names).
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "role": state.services.service.role}))
}

/// A figure beyond the shared ones: (name, help, type, value).
pub type Extra = (&'static str, &'static str, &'static str, f64);

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text exposition (0.0.4).", body = String, content_type = "text/plain")),
)]
pub async fn get_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let flows = state.db.run(Flow::count_by_status).await?;
    let extra = [(
        "coffer_password_checks_total",
        "Passwords checked (argon2 verifications).",
        "counter",
        state.passwords.checks() as f64,
    )];
    let mut text = render(
        &state.services.supervision,
        Some(&state.services.metrics),
        &flows,
        &extra,
    );
    text.push_str(&super::replicas::lag_metrics(&state).await?);
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

/// The Prometheus text of one process: its actors, the flows (when it reads the database), its
/// counters (when it keeps them) and `extra`.
pub fn render(
    supervision: &SupervisionLog,
    metrics: Option<&Metrics>,
    flows: &[(String, i64)],
    extra: &[Extra],
) -> String {
    let (alive, restarts, failures) = supervision.counters();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP coffer_actors_alive Supervised actors alive, by kind.\n# TYPE coffer_actors_alive gauge"
    );
    for (kind, n) in alive {
        let _ = writeln!(out, "coffer_actors_alive{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP coffer_actor_restarts_total Actor restarts by supervisors.\n# TYPE coffer_actor_restarts_total counter"
    );
    let _ = writeln!(out, "coffer_actor_restarts_total {restarts}");
    let _ = writeln!(out, "# HELP coffer_actor_failures_total Actor failures (errors, panics).\n# TYPE coffer_actor_failures_total counter");
    let _ = writeln!(out, "coffer_actor_failures_total {failures}");
    if !flows.is_empty() {
        let _ = writeln!(out, "# HELP coffer_flows Flows by state.\n# TYPE coffer_flows gauge");
        for (status, n) in flows {
            let _ = writeln!(out, "coffer_flows{{state=\"{status}\"}} {n}");
        }
    }
    if let Some(m) = metrics {
        counters(&mut out, m);
    }
    for (name, help, kind, value) in extra {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    out
}

fn counters(out: &mut String, m: &Metrics) {
    let counters = [
        (
            "coffer_heartbeats_applied_total",
            "Heartbeats applied.",
            &m.heartbeats_applied,
        ),
        (
            "coffer_heartbeats_stale_total",
            "Heartbeats dropped as stale.",
            &m.heartbeats_stale,
        ),
        (
            "coffer_heartbeats_coalesced_total",
            "Heartbeats superseded by a newer one of the same instance in one batch.",
            &m.heartbeats_coalesced,
        ),
        (
            "coffer_heartbeat_batches_total",
            "Heartbeat batches written (one transaction each).",
            &m.heartbeat_batches,
        ),
        (
            "coffer_guest_messages_rejected_total",
            "Guest messages dropped: unsigned or signed under another key.",
            &m.messages_rejected,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP coffer_db_statements_total Statements this process sent to its database.\n# TYPE coffer_db_statements_total counter\ncoffer_db_statements_total {}",
        crate::db::statements_sent()
    );
    let (writes, commits) = crate::db::writes_and_commits();
    let _ = writeln!(
        out,
        "# HELP coffer_db_writes_total Write transactions run on this process's writing connection (SQLite).\n# TYPE coffer_db_writes_total counter\ncoffer_db_writes_total {writes}\n# HELP coffer_db_commits_total Commits those writes shared (group commit; SQLite).\n# TYPE coffer_db_commits_total counter\ncoffer_db_commits_total {commits}"
    );
    let _ = writeln!(
        out,
        "# HELP coffer_amqp_batch_settle_frames_total Frames that settled the deliveries of batch consumers (the conductor) on RabbitMQ: one ack per run of a batch.\n# TYPE coffer_amqp_batch_settle_frames_total counter\ncoffer_amqp_batch_settle_frames_total {}",
        crate::bus::coalesced_settle_frames()
    );
    let _ = writeln!(
        out,
        "# HELP coffer_heartbeat_write_seconds_total Time the heartbeat batches' transactions took.\n# TYPE coffer_heartbeat_write_seconds_total counter\ncoffer_heartbeat_write_seconds_total {}",
        m.heartbeat_write_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "# HELP coffer_heartbeat_lag_seconds Lag of the last applied heartbeat batch.\n# TYPE coffer_heartbeat_lag_seconds gauge");
    let _ = writeln!(
        out,
        "coffer_heartbeat_lag_seconds {}",
        m.heartbeat_lag_ms.load(Ordering::Relaxed) as f64 / 1000.0
    );
}
