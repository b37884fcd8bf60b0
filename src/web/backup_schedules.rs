//! `/instances/{id}/backup_schedule` (coffer's, beside Trove's backup routes): an instance's
//! automatic backups — a full backup every `full_backup_interval` seconds (aligned to the UTC
//! time of day `full_backup_at` when given), incrementals every `incremental_backup_interval`
//! seconds in between, and the retention (`retention_count` newest full backups and/or
//! `retention_days`) applied to them. GET shows it (404 without one), PUT sets it (200), DELETE
//! removes it (202); the backups already made stay.

use super::acting::Acting;
use super::input::Body;
use super::openapi::fault::Fault;
use super::openapi::params::TenantInstance;
use super::openapi::schemas::backups::{BackupScheduleBody, BackupScheduleRequest};
use super::validate::{bad, object};
use super::views::iso;
use super::AppState;
use crate::db::models::backup_schedule::BackupSchedule;
use crate::db::models::catalog::DatastoreVersion;
use crate::db::models::instance::Instance;
use crate::db::{now_ms, write_tx};
use crate::error::ApiError;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

fn view(s: &BackupSchedule) -> Value {
    json!({"backup_schedule": {
        "instance_id": s.instance_id,
        "full_backup_interval": s.full_every_s,
        "full_backup_at": s.full_at,
        "incremental_backup_interval": s.incremental_every_s,
        "retention_count": s.retention_count,
        "retention_days": s.retention_days,
        "next_full_backup": iso(s.next_full_at),
        "next_incremental_backup": s.next_incremental_at.map(iso),
        "last_error": s.last_error,
        "created": iso(s.created),
        "updated": iso(s.updated),
    }})
}

/// The longest interval (seconds) and retention (days) a schedule may name.
const MAX_INTERVAL_S: i64 = 366 * 86_400;
const MAX_RETENTION: i64 = 100_000;

/// An integer field between `min` and `max`.
fn bounded(obj: &Map<String, Value>, key: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(format!("{v} is not an integer from {min} to {max} ({key})"))),
        },
    }
}

/// `"HH:MM"` (UTC) → minutes after midnight.
fn time_of_day(text: &str) -> Result<i64, ApiError> {
    let parsed = text
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
        .filter(|(h, m)| (0..24).contains(h) && (0..60).contains(m) && text.len() == 5);
    parsed
        .map(|(h, m)| h * 60 + m)
        .ok_or_else(|| bad(format!("'{text}' is not a time of day HH:MM (full_backup_at)")))
}

/// The first full run: the next `HH:MM` UTC when given, else one interval from now.
fn first_full(now: i64, every_s: i64, at: Option<&str>) -> Result<i64, ApiError> {
    let Some(at) = at else {
        return Ok(now + every_s * 1000);
    };
    let minute_ms = time_of_day(at)? * 60_000;
    let day_start = now - now.rem_euclid(86_400_000);
    let today = day_start + minute_ms;
    Ok(if today > now { today } else { today + 86_400_000 })
}

fn parse(
    body: &Value,
    instance_id: &str,
    tenant: &str,
    min_interval: i64,
    now: i64,
) -> Result<BackupSchedule, ApiError> {
    let top = object(body, "request body")?;
    let s = object(
        top.get("backup_schedule")
            .ok_or_else(|| bad("'backup_schedule' is a required property"))?,
        "backup_schedule",
    )?;
    let full_every =
        bounded(s, "full_backup_interval", min_interval, MAX_INTERVAL_S)?.unwrap_or(86_400.max(min_interval));
    let incremental = bounded(s, "incremental_backup_interval", min_interval, MAX_INTERVAL_S)?;
    let full_at = match s.get("full_backup_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => return Err(bad(format!("{other} is not of type 'string' (full_backup_at)"))),
    };
    let retention_count = bounded(s, "retention_count", 1, MAX_RETENTION)?.map(|n| n as i32);
    let retention_days = bounded(s, "retention_days", 1, MAX_RETENTION)?.map(|n| n as i32);
    Ok(BackupSchedule {
        instance_id: instance_id.to_string(),
        tenant_id: tenant.to_string(),
        full_every_s: full_every,
        next_full_at: first_full(now, full_every, full_at.as_deref())?,
        full_at,
        incremental_every_s: incremental,
        next_incremental_at: incremental.map(|i| now + i * 1000),
        retention_count,
        retention_days,
        last_error: None,
        created: now,
        updated: now,
    })
}

fn instance_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Instance {id} could not be found."))
}

#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/instances/{id}/backup_schedule",
    operation_id = "set_backup_schedule",
    params(TenantInstance),
    request_body = BackupScheduleRequest,
    responses(
        (status = 200, description = "The instance's schedule, as set.", body = BackupScheduleBody),
        (status = 501, description = "Incrementals asked of a datastore without them.", body = Fault),
    ),
)]
pub async fn set_schedule(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let now = now_ms();
    let schedule = parse(
        &body,
        &id,
        &tenant,
        state.services.config.backup.min_interval_s.as_secs() as i64,
        now,
    )?;
    let saved = state
        .db
        .run(move |c| {
            Ok(write_tx(c, |c| {
                let Some(instance) = Instance::find_owned(c, &tenant, &schedule.instance_id)? else {
                    return Err(instance_not_found(&schedule.instance_id));
                };
                let manager = DatastoreVersion::find(c, &instance.datastore_version_id)?
                    .and_then(|v| crate::manager::Manager::parse(&v.manager));
                let chains = manager.is_some_and(|m| m.has_incremental_backups());
                if schedule.incremental_every_s.is_some() && !chains {
                    return Err(ApiError::NotImplemented(
                        "Incremental backups are not supported for datastore redis.".into(),
                    ));
                }
                let mut schedule = schedule;
                if let Some(old) = BackupSchedule::find(c, &instance.id)? {
                    schedule.created = old.created;
                }
                BackupSchedule::upsert(c, &schedule)?;
                Ok(schedule)
            }))
        })
        .await??;
    Ok(HttpResponse::Ok().json(view(&saved)))
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/backup_schedule",
    operation_id = "show_backup_schedule",
    params(TenantInstance),
    responses((status = 200, description = "The instance's schedule (404 without one).", body = BackupScheduleBody)),
)]
pub async fn show_schedule(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let lookup = id.clone();
    let found = state
        .db
        .try_run(move |c| {
            if Instance::find_owned(c, &tenant, &lookup)?.is_none() {
                return Err(instance_not_found(&lookup));
            }
            Ok(BackupSchedule::find(c, &lookup)?)
        })
        .await?;
    let schedule = found.ok_or_else(|| ApiError::NotFound(format!("Instance {id} has no backup schedule.")))?;
    Ok(HttpResponse::Ok().json(view(&schedule)))
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/instances/{id}/backup_schedule",
    operation_id = "delete_backup_schedule",
    params(TenantInstance),
    responses((status = 202, description = "The schedule is removed; its backups stay.")),
)]
pub async fn delete_schedule(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let tenant = acting.project();
    let lookup = id.clone();
    let deleted = state
        .db
        .try_run(move |c| {
            if Instance::find_owned(c, &tenant, &lookup)?.is_none() {
                return Err(instance_not_found(&lookup));
            }
            Ok(BackupSchedule::delete(c, &lookup)?)
        })
        .await?;
    if !deleted {
        return Err(ApiError::NotFound(format!("Instance {id} has no backup schedule.")));
    }
    Ok(HttpResponse::Accepted().finish())
}
