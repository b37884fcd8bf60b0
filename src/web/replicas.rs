//! The API of replication: a create's `replica_of`/`replica_count`, the detach
//! (`PUT {"instance": {"replica_of": null}}`), and the `promote_to_replica_source` and
//! `eject_replica_source` actions. The work is a flow each (see [`crate::flows::replication`]).
//! Admins see each member's replication state in its view, and `/metrics` the replicas' lag.

use super::flow_casts::{cast_flow, expiry_ms, ms};
use super::validate::bad;
use super::AppState;
use crate::error::ApiError;
use crate::intents::replication::{self, MAX_REPLICAS_PER_CREATE};
use serde_json::{Map, Value};

/// `replica_of` (the source's id) and `replica_count` (1..3, more than one only with
/// `replica_of`) of a create.
pub fn create_fields(obj: &Map<String, Value>) -> Result<(Option<String>, Option<i64>), ApiError> {
    let replica_of = match obj.get("replica_of").or_else(|| obj.get("slave_of")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_string()),
        Some(other) => return Err(bad(format!("{other} is not a valid instance id (replica_of)"))),
    };
    let count = match obj.get("replica_count") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) if (1..=MAX_REPLICAS_PER_CREATE).contains(&n) => Some(n),
            _ => {
                return Err(bad(format!(
                    "{v} is not valid: replica_count is an integer from 1 to {MAX_REPLICAS_PER_CREATE}"
                )))
            }
        },
    };
    if count.is_some_and(|n| n > 1) && replica_of.is_none() {
        return Err(bad("replica_count is allowed only together with replica_of."));
    }
    Ok((replica_of, count))
}

/// Detaches a replica from its source: it becomes a writable instance of its own.
pub async fn detach(state: &AppState, tenant: String, id: String) -> Result<(), ApiError> {
    let (expiry, deadline) = (expiry_ms(state), ms(state.services.config.taskmanager.resize_timeout_s));
    let flow = state
        .db
        .run(move |c| Ok(replication::detach_replica(c, &tenant, &id, expiry, deadline)))
        .await??;
    tracing::info!(instance.id = %flow.target_id, "replica detach requested");
    cast_flow(state, &flow).await;
    Ok(())
}

/// `promote_to_replica_source` (a switchover to the replica `id`) or `eject_replica_source`
/// (a failover away from a source that stopped: `id` is the source or one of its replicas).
pub async fn switch(state: &AppState, tenant: String, id: String, failover: bool) -> Result<(), ApiError> {
    let (expiry, deadline) = (expiry_ms(state), ms(state.services.config.taskmanager.resize_timeout_s));
    let flow = state
        .db
        .run(move |c| Ok(replication::switch_source(c, &tenant, &id, failover, expiry, deadline)))
        .await??;
    tracing::info!(instance.id = %flow.target_id, flow.kind = %flow.kind, "replication source change requested");
    cast_flow(state, &flow).await;
    Ok(())
}

/// How many replicas `/metrics` asks for their lag at most (one guest call each, concurrently).
const LAG_METRICS_MAX: i64 = 200;

/// What a group member's guest says of its replication (admins' view): role, whether it takes
/// writes, whether it streams, its position and a replica's lag. `None` when it does not answer.
pub async fn member_state(state: &AppState, id: &str) -> Option<Value> {
    let timeout = state.services.config.api.show_guest_timeout_ms;
    match state
        .services
        .guests
        .call(id, "replication_status", serde_json::json!({}), timeout)
        .await
    {
        Ok(status) => Some(serde_json::json!({
            "role": status["role"],
            "writable": status["writable"],
            "streaming": status["streaming"],
            "position": status["position"]["text"],
            "lag_bytes": status["lag"],
            "lag_seconds": status["lag_seconds"],
        })),
        Err(e) => {
            tracing::debug!(instance.id = %id, "replication state unavailable: {e}");
            None
        }
    }
}

/// The Prometheus lines of every replica's lag (bytes or transactions, and seconds).
pub async fn lag_metrics(state: &AppState) -> Result<String, ApiError> {
    use std::fmt::Write;
    let replicas = state
        .db
        .run(|c| crate::db::models::instance::Instance::all_replicas(c, LAG_METRICS_MAX))
        .await?;
    let states = futures::future::join_all(replicas.iter().map(|(id, _)| member_state(state, id))).await;
    let mut bytes = String::new();
    let mut seconds = String::new();
    for ((id, source), status) in replicas.iter().zip(states) {
        let Some(status) = status else { continue };
        let labels = format!("instance=\"{id}\",source=\"{source}\"");
        if let Some(lag) = status["lag_bytes"].as_u64() {
            let _ = writeln!(bytes, "coffer_replication_lag_bytes{{{labels}}} {lag}");
        }
        if let Some(lag) = status["lag_seconds"].as_f64() {
            let _ = writeln!(seconds, "coffer_replication_lag_seconds{{{labels}}} {lag}");
        }
    }
    Ok(format!(
        "# HELP coffer_replication_lag_bytes What a replica has received and not yet applied.\n\
         # TYPE coffer_replication_lag_bytes gauge\n{bytes}\
         # HELP coffer_replication_lag_seconds Since the last change a replica applied was made.\n\
         # TYPE coffer_replication_lag_seconds gauge\n{seconds}"
    ))
}
