//! `POST /backups` with `restore_from`: Trove's registering of a backup taken elsewhere (another
//! region) whose data now lies in this deployment's backup store. The location must name a full
//! backup's object of the named datastore version, in coffer's own store and under the
//! project's own prefix (a project never registers a neighbour's data); coffer reads the object
//! whole — it must be one complete zstd stream, of the size the client says and, if the client
//! gives one, of its SHA-256 (MariaDB's must say it is a full backup) — and records it RESTORED,
//! restorable like a completed backup. An object of one of this deployment's own backups is
//! refused (it restores by its id, and goes with it). The registered object stays when the
//! registration is deleted, as in Trove.

use super::validate::{bad, name_field, object, string_field};
use super::AppState;
use crate::db::models::backup::{Backup, Registered};
use crate::error::ApiError;
use crate::intents::backups::{self, RegisterBackup};
use crate::storage::{Inspected, StorageError};
use serde_json::{Map, Value};

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// How far the declared size may be from the object's: Trove's views round to GB fractions.
fn size_tolerance(bytes: u64) -> f64 {
    (bytes as f64 / 100.0).max(1024.0 * 1024.0)
}

/// Checks the `backup` object of a request that carries `restore_from`.
pub(super) fn register_request(b: &Map<String, Value>, restore_from: &Value) -> Result<RegisterBackup, ApiError> {
    // Trove ignores them; a registration asking for them would not get what it asks.
    let asked = |v: &Value| !matches!(v, Value::Null | Value::Bool(false)) && v.as_i64() != Some(0);
    for taken_only in ["instance", "parent_id", "incremental"] {
        if b.get(taken_only).is_some_and(asked) {
            return Err(bad(format!(
                "'{taken_only}' and 'restore_from' exclude each other: restore_from registers a backup no instance takes."
            )));
        }
    }
    let from = object(restore_from, "restore_from")?;
    let required = |key: &str| {
        string_field(from, key)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad(format!("'{key}' is a required property (restore_from)")))
    };
    let size_gb = match from.get("size") {
        Some(Value::Number(n)) => n.as_f64().filter(|s| s.is_finite() && *s >= 0.0),
        None | Some(Value::Null) => return Err(bad("'size' is a required property (restore_from)")),
        Some(_) => None,
    }
    .ok_or_else(|| bad("'size' is not a non-negative number of GB (restore_from)"))?;
    let checksum = match string_field(from, "checksum")? {
        Some(c) if c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()) => Some(c.to_ascii_lowercase()),
        Some(c) => return Err(bad(format!("'{c}' is not a SHA-256 in hex (restore_from checksum)"))),
        None => None,
    };
    Ok(RegisterBackup {
        name: name_field(b)?,
        description: string_field(b, "description")?,
        location: required("remote_location")?,
        datastore_version_id: required("local_datastore_version_id")?,
        size_gb,
        checksum,
    })
}

/// Why the object cannot be registered, as the client is told.
fn refused(location: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("Failed to register the backup at {location}: {why}."))
}

/// Whether the object is of the size the client declared.
fn check_size(req: &RegisterBackup, bytes: u64) -> Result<(), ApiError> {
    let declared = req.size_gb * GB;
    if (declared - bytes as f64).abs() > size_tolerance(bytes) {
        return Err(refused(
            &req.location,
            format_args!(
                "it holds {bytes} bytes ({:.6} GB), not the {} GB declared",
                bytes as f64 / GB,
                req.size_gb
            ),
        ));
    }
    Ok(())
}

/// Whether the object's SHA-256 is the one the client gave, if it gave one.
fn check_checksum(req: &RegisterBackup, found: &Inspected) -> Result<(), ApiError> {
    match &req.checksum {
        Some(expected) if *expected != found.checksum => Err(refused(
            &req.location,
            format_args!("its SHA-256 is {}, not {expected}", found.checksum),
        )),
        _ => Ok(()),
    }
}

/// What a store failure tells the client (the cause is logged, not sent).
fn store_failed(location: &str, e: StorageError) -> ApiError {
    match e {
        StorageError::Missing(_) => refused(location, "no such object"),
        StorageError::Stream(why) => refused(location, why),
        StorageError::Busy => ApiError::TooManyRequests {
            message: "Other backups are being registered; try again shortly.".into(),
            retry_after_s: 5,
        },
        StorageError::Task(why) => ApiError::Internal(why),
        e @ (StorageError::Store { .. } | StorageError::Setup(_)) => {
            tracing::warn!(location, "registering a backup: {e}");
            ApiError::Unavailable("The backup store cannot be read now.".into())
        }
    }
}

/// Checks the object `req` names and records the backup of `tenant` that registers it.
pub(super) async fn register(state: &AppState, tenant: String, req: RegisterBackup) -> Result<Backup, ApiError> {
    let store = &state.services.backup_store;
    let key = store
        .key_in_project(&req.location, &tenant)
        .map_err(|why| refused(&req.location, why))?;
    let limits = crate::db::models::quota::Defaults::from(&state.services.config.quota);
    let (checked, project, of_key) = (req.clone(), tenant.clone(), key.clone());
    let manager = state
        .db
        .run(move |c| Ok(backups::check_registration(c, &project, &checked, &of_key, &limits)))
        .await??;
    if !manager.names_full_backup(&key) {
        return Err(refused(
            &req.location,
            format_args!(
                "it is not a full {} backup (its name ends .{}.zst)",
                manager.as_str(),
                manager.backup_format()
            ),
        ));
    }
    // The listed size first: a wrong one is refused before anything is read.
    let listed = store
        .stored_size(&key)
        .await
        .map_err(|e| store_failed(&req.location, e))?;
    let listed = listed.ok_or_else(|| refused(&req.location, "no such object"))?;
    check_size(&req, listed)?;
    let mark = manager.full_backup_mark();
    let found = store
        .inspect(&key, mark)
        .await
        .map_err(|e| store_failed(&req.location, e))?;
    check_size(&req, found.size)?;
    check_checksum(&req, &found)?;
    if !found.holds_mark {
        return Err(refused(
            &req.location,
            format_args!("it is not a full {} backup (an incremental's dump?)", manager.as_str()),
        ));
    }
    let object = Registered {
        location: store.location(&key),
        key,
        size_bytes: found.size as i64,
        checksum: found.checksum,
        raw_bytes: found.raw_size as i64,
    };
    let limits = crate::db::models::quota::Defaults::from(&state.services.config.quota);
    let b = state
        .db
        .run(move |c| Ok(backups::register_backup(c, &tenant, &req, object, &limits)))
        .await??;
    tracing::info!(backup.id = %b.id, location = ?b.location, "backup {} registered", b.id);
    Ok(b)
}
