//! What the database, user and root resources share: Trove's checks before an instance's guest
//! is asked anything (the instance exists and is the caller's, it is ready for an action, its
//! datastore has users and databases at all), and the call itself, with guest errors mapped to
//! Trove's codes (Unprocessable → 422, NotImplemented → 501, anything else → 400).

use super::AppState;
use crate::bus::BusError;
use crate::db::models::instance::{Instance, InstanceRecord};
use crate::error::ApiError;
use crate::guest::protocol::decode_error;
use crate::guest::rules::{self, NameRules};
use crate::guest::GuestError;
use serde_json::Value;

/// How long a guest call may take.
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    /// Trove's agent_call_low_timeout (reads).
    Low,
    /// Trove's agent_call_high_timeout (writes, root).
    High,
}

/// An instance ready for a user or database operation, with its datastore's naming rules.
pub struct Ready {
    pub record: InstanceRecord,
    pub rules: NameRules,
}

/// Trove's `load_and_verify` plus `validate_can_perform_action`: the caller's instance, ACTIVE.
pub async fn ready_for_guest(state: &AppState, tenant: String, id: String) -> Result<InstanceRecord, ApiError> {
    let lookup = id.clone();
    let record = state
        .db
        .run(move |c| Instance::find_record(c, &tenant, &lookup))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
    let expiry = state.services.config.guest.heartbeat_expiry_s.as_millis() as i64;
    crate::intents::check_ready(&id, &record, expiry)?;
    Ok(record)
}

/// [`ready_for_guest`], for a datastore that has users and databases.
pub async fn ready_for_accounts(state: &AppState, tenant: String, id: String) -> Result<Ready, ApiError> {
    let record = ready_for_guest(state, tenant, id).await?;
    let manager = record.version.manager.clone();
    let rules = rules::for_manager(&manager).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "Datastore {manager} does not support users, databases or root."
        ))
    })?;
    Ok(Ready { record, rules })
}

/// [`ready_for_accounts`] for a change of users, databases or root: a replica takes its
/// accounts from its source, so they change there (a change on a replica would also be a write
/// the group's other members never see).
pub async fn ready_for_account_writes(state: &AppState, tenant: String, id: String) -> Result<Ready, ApiError> {
    let ready = ready_for_accounts(state, tenant, id).await?;
    if let Some(source) = &ready.record.instance.slave_of_id {
        return Err(ApiError::BadRequest(format!(
            "Instance {} is a replica of {source}: change its users, databases and root on the source.",
            ready.record.instance.id
        )));
    }
    Ok(ready)
}

/// Calls `method` on the instance's guest.
pub async fn call(
    state: &AppState,
    instance_id: &str,
    method: &str,
    args: Value,
    timeout: Timeout,
) -> Result<Value, ApiError> {
    let guest = &state.services.config.guest;
    let within = match timeout {
        Timeout::Low => guest.call_low_timeout_s,
        Timeout::High => guest.call_high_timeout_s,
    };
    match state.services.guests.call(instance_id, method, args, within).await {
        Ok(value) => Ok(value),
        Err(BusError::Remote(text)) => Err(match decode_error(&text) {
            GuestError::Unprocessable(m) => ApiError::Unprocessable(m),
            GuestError::NotImplemented(m) => ApiError::NotImplemented(m),
            GuestError::Failed(m) => ApiError::BadRequest(m),
        }),
        Err(BusError::Timeout { .. }) => Err(ApiError::Unavailable(format!(
            "The guest of instance {instance_id} did not answer {method} in time."
        ))),
        Err(BusError::NoConsumer { .. }) => Err(ApiError::Unavailable(format!(
            "The guest of instance {instance_id} is not running; {method} was not sent."
        ))),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// A write on the guest (Trove's 202 with no body once the guest has done it).
pub async fn accepted(
    state: &AppState,
    instance_id: &str,
    method: &str,
    args: Value,
) -> Result<actix_web::HttpResponse, ApiError> {
    call(state, instance_id, method, args, Timeout::High).await?;
    Ok(actix_web::HttpResponse::Accepted().finish())
}

/// `name` or `name@host` from a URL segment (already percent-decoded by the router).
pub fn split_user(segment: &str) -> (String, String) {
    match segment.rsplit_once('@') {
        Some((name, host)) if !host.is_empty() => (name.to_string(), host.to_string()),
        _ => (segment.to_string(), "%".to_string()),
    }
}
