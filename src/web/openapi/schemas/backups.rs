//! Backups, backup schedules and backup strategies.

use super::common::Link;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};

/// Trove's backup view, plus `checksum` and, for a failed backup, `fault`.
#[derive(ToSchema)]
pub struct BackupView {
    id: String,
    name: String,
    #[schema(required = true)]
    description: Option<String>,
    /// Where the backup is stored; null until it is.
    #[serde(rename = "locationRef")]
    #[schema(required = true)]
    location_ref: Option<String>,
    /// The instance it was taken of; null for a registered backup (`restore_from`).
    #[schema(required = true)]
    instance_id: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC.
    created: String,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC.
    updated: String,
    /// GB (fractional); null until the backup is stored.
    #[schema(required = true)]
    size: Option<f64>,
    /// `NEW`, `BUILDING`, `SAVING`, `COMPLETED`, `FAILED`, `DELETE_FAILED`, or `RESTORED` (registered).
    status: String,
    /// The backup an incremental one is based on; null for a full backup.
    #[schema(required = true)]
    parent_id: Option<String>,
    /// The owning project.
    project_id: String,
    /// The instance's datastore and version when taken; null when that version is gone.
    #[schema(required = true)]
    datastore: Option<BackupDatastore>,
    /// The stored data's checksum; null until it is stored.
    #[schema(required = true)]
    checksum: Option<String>,
    /// Why it failed (a FAILED or DELETE_FAILED backup with a reason only).
    fault: Option<BackupFault>,
}

/// A backup's datastore.
#[derive(ToSchema)]
pub struct BackupDatastore {
    /// The datastore's name.
    #[serde(rename = "type")]
    kind: String,
    /// The version's name.
    version: String,
    version_id: String,
}

/// Why a backup failed.
#[derive(ToSchema)]
pub struct BackupFault {
    message: String,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC.
    created: String,
}

/// `{"backups": [...]}`: one page, most recently updated first.
#[derive(ToSchema)]
pub struct BackupList {
    backups: Vec<BackupView>,
    /// The `next` page (`?limit=…&marker=<offset>`), when there is one.
    links: Option<Vec<Link>>,
}

/// `{"backup": {...}}`.
#[derive(ToSchema)]
pub struct BackupBody {
    backup: BackupView,
}

/// What to back up.
#[derive(ToSchema)]
pub struct BackupCreate {
    /// 1 to 255 characters, at least one a letter or digit, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "[0-9a-zA-Z]")]
    name: String,
    /// The instance's id (ACTIVE, not already running a backup); required unless
    /// `restore_from` is given, which it excludes.
    instance: Option<String>,
    description: Option<String>,
    /// A completed backup of the instance to base an incremental one on.
    parent_id: Option<String>,
    #[schema(schema_with = incremental_flag)]
    incremental: Option<Value>,
    /// Register a backup whose data is already in this deployment's backup store instead of
    /// taking one (excludes `instance`, `parent_id` and `incremental`).
    restore_from: Option<RestoreFrom>,
}

/// Where a backup to register lies, and what it holds.
#[derive(ToSchema)]
pub struct RestoreFrom {
    /// The object's URL in this deployment's backup store (a `locationRef`), under the
    /// project's own prefix, of a full backup's dump.
    #[schema(min_length = 1)]
    remote_location: String,
    /// The datastore version it is a backup of.
    #[schema(min_length = 1)]
    local_datastore_version_id: String,
    /// Its size in GB, as a backup view shows it (within 1 % or 1 MiB).
    #[schema(minimum = 0)]
    size: f64,
    /// Its SHA-256, hex (as coffer's backup views show it); checked when given.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    checksum: Option<String>,
}

/// `incremental`: a boolean or 0/1.
fn incremental_flag() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 1])),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "Chain on the instance's latest completed backup (a boolean, or 0 or 1; false when absent).",
        ))
        .into()
}

/// `POST /backups`: `{"backup": {"name", "instance", "description"?, "parent_id"?, "incremental"?}}`,
/// or `{"backup": {"name", "description"?, "restore_from": {...}}}`.
#[derive(ToSchema)]
pub struct BackupCreateRequest {
    backup: BackupCreate,
}

/// `GET /backups` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackupFilters {
    /// Only this instance's backups.
    instance_id: Option<String>,
    /// Only backups of this datastore (its name or id).
    datastore: Option<String>,
    /// Any value but `false` or `0` lists every project's backups (admins only).
    all_projects: Option<String>,
}

/// A backup list's `limit` and `marker`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackupPage {
    /// At most this many backups (a positive integer; larger pages are cut to the maximum).
    limit: Option<String>,
    /// How many backups to skip: a non-negative integer (the `next` link's marker).
    marker: Option<String>,
}

/// Trove's backup strategy (a swift container per project or instance); coffer has none.
#[derive(ToSchema)]
pub struct BackupStrategy {
    project_id: String,
    /// Blank for the project-wide strategy.
    instance_id: String,
    /// `swift`.
    backend: String,
    swift_container: String,
}

/// `GET /backup_strategies`: always empty.
#[derive(ToSchema)]
pub struct BackupStrategyList {
    backup_strategies: Vec<BackupStrategy>,
}

/// A strategy to create (Trove's shape; coffer refuses every one).
#[derive(ToSchema)]
pub struct NewBackupStrategy {
    /// The instance it applies to; the whole project when absent.
    instance_id: Option<String>,
    swift_container: String,
}

/// `POST /backup_strategies`: `{"backup_strategy": {"instance_id"?, "swift_container"}}`.
#[derive(ToSchema)]
pub struct BackupStrategyRequest {
    backup_strategy: NewBackupStrategy,
}

/// An instance's backup schedule.
#[derive(ToSchema)]
pub struct BackupSchedule {
    instance_id: String,
    /// Seconds between full backups.
    full_backup_interval: i64,
    /// The UTC time of day (`HH:MM`) full backups are aligned to, or null.
    #[schema(required = true)]
    full_backup_at: Option<String>,
    /// Seconds between incremental backups, or null for none.
    #[schema(required = true)]
    incremental_backup_interval: Option<i64>,
    /// How many of the newest full backups (with their incrementals) are kept, or null.
    #[schema(required = true)]
    retention_count: Option<i64>,
    /// How many days backups are kept, or null.
    #[schema(required = true)]
    retention_days: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC.
    next_full_backup: String,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC; null without incrementals.
    #[schema(required = true)]
    next_incremental_backup: Option<String>,
    /// Why the last scheduled run failed, or null.
    #[schema(required = true)]
    last_error: Option<String>,
    created: String,
    updated: String,
}

/// `{"backup_schedule": {...}}`.
#[derive(ToSchema)]
pub struct BackupScheduleBody {
    backup_schedule: BackupSchedule,
}

/// A schedule to set (replacing the instance's); intervals are at least `[backup]
/// min_interval_s` (3600 by default) and at most 366 days.
#[derive(ToSchema)]
pub struct BackupScheduleSettings {
    /// Seconds between full backups (a day, or the minimum if larger, when absent).
    #[schema(minimum = 0, maximum = 31622400)]
    full_backup_interval: Option<i64>,
    /// Align full backups to this UTC time of day.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    full_backup_at: Option<String>,
    /// Seconds between incremental backups (datastores with incrementals only; else 501).
    #[schema(minimum = 0, maximum = 31622400)]
    incremental_backup_interval: Option<i64>,
    /// Keep this many newest full backups.
    #[schema(minimum = 1, maximum = 100000)]
    retention_count: Option<i64>,
    /// Keep backups this many days.
    #[schema(minimum = 1, maximum = 100000)]
    retention_days: Option<i64>,
}

/// `PUT /instances/{id}/backup_schedule`: `{"backup_schedule": {...}}`.
#[derive(ToSchema)]
pub struct BackupScheduleRequest {
    backup_schedule: BackupScheduleSettings,
}
