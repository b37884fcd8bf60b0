//! `backups`: one row per backup (Trove's table, plus the attempt, progress and stale-check
//! columns coffer's retries need).
//!
//! How the guest's reports are applied is in [`report`].

mod report;

pub use report::BackupReport;

use crate::db::schema::backups;
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;

pub const NEW: &str = "NEW";
pub const BUILDING: &str = "BUILDING";
pub const COMPLETED: &str = "COMPLETED";
pub const FAILED: &str = "FAILED";
pub const DELETE_FAILED: &str = "DELETE_FAILED";
/// A backup registered with `restore_from`: its object was already in the store.
pub const RESTORED: &str = "RESTORED";
/// The states in which a backup is running (the instance shows BACKUP and refuses actions).
pub const RUNNING: [&str; 2] = [NEW, BUILDING];

pub const FULL: &str = "full";
pub const INCREMENTAL: &str = "incremental";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = backups)]
pub struct Backup {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub tenant_id: String,
    /// The instance it was taken of; blank for a registered backup (RESTORED), which no
    /// instance of this deployment took.
    pub instance_id: String,
    pub datastore_version_id: String,
    pub parent_id: Option<String>,
    pub backup_type: String,
    pub state: String,
    pub object_key: Option<String>,
    pub location: Option<String>,
    pub size_bytes: Option<i64>,
    pub checksum: Option<String>,
    pub meta: Option<String>,
    pub attempt: i32,
    /// The current attempt failed (the guest reported it); the flow retries or ends the backup.
    pub attempt_failed: bool,
    pub fail_reason: Option<String>,
    pub last_sent: f64,
    pub progress_at: i64,
    pub schedule_run: bool,
    pub created: i64,
    pub updated: i64,
    pub deleted: bool,
    pub deleted_at: Option<i64>,
}

/// The object a registered backup names, as coffer measured it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub key: String,
    pub location: String,
    pub size_bytes: i64,
    pub checksum: String,
    pub raw_bytes: i64,
}

/// Filters of a backup listing.
#[derive(Debug, Default, Clone)]
pub struct BackupFilter {
    /// None: every project's (admin `all_projects`).
    pub tenant: Option<String>,
    pub instance_id: Option<String>,
    pub datastore_version_ids: Option<Vec<String>>,
}

impl Backup {
    /// A new backup of `instance_id`, state NEW, first attempt.
    pub fn new(
        tenant: &str,
        instance_id: &str,
        version_id: &str,
        name: &str,
        description: Option<String>,
        parent_id: Option<String>,
    ) -> Backup {
        let now = now_ms();
        Backup {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            description,
            tenant_id: tenant.to_string(),
            instance_id: instance_id.to_string(),
            datastore_version_id: version_id.to_string(),
            backup_type: if parent_id.is_some() { INCREMENTAL } else { FULL }.to_string(),
            parent_id,
            state: NEW.to_string(),
            object_key: None,
            location: None,
            size_bytes: None,
            checksum: None,
            meta: None,
            attempt: 1,
            attempt_failed: false,
            fail_reason: None,
            last_sent: 0.0,
            progress_at: now,
            schedule_run: false,
            created: now,
            updated: now,
            deleted: false,
            deleted_at: None,
        }
    }

    /// A backup registered from an object already in the store (`restore_from`): RESTORED,
    /// full, of no instance.
    pub fn registered(
        tenant: &str,
        version_id: &str,
        name: &str,
        description: Option<String>,
        object: Registered,
    ) -> Backup {
        let mut b = Backup::new(tenant, "", version_id, name, description, None);
        b.state = RESTORED.to_string();
        b.object_key = Some(object.key);
        b.location = Some(object.location);
        b.size_bytes = Some(object.size_bytes);
        b.checksum = Some(object.checksum);
        b.meta = Some(serde_json::json!({"raw_bytes": object.raw_bytes}).to_string());
        b
    }

    /// Whether it can be restored (Trove's `is_done_successfuly`).
    pub fn is_restorable(&self) -> bool {
        self.state == COMPLETED || self.state == RESTORED
    }

    /// The instance it was taken of (None for a registered backup).
    pub fn taken_of(&self) -> Option<&str> {
        Some(self.instance_id.as_str()).filter(|i| !i.is_empty())
    }

    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(backups::table).values(self).execute(conn)?;
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        RUNNING.contains(&self.state.as_str())
    }

    pub fn meta_json(&self) -> serde_json::Value {
        self.meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// A live backup by id, whoever owns it.
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Backup>, DbError> {
        Ok(backups::table
            .find(id)
            .filter(backups::deleted.eq(false))
            .select(Backup::as_select())
            .first(conn)
            .optional()?)
    }

    /// Whether a backup with this id was ever recorded (deleted ones too).
    pub fn ever_recorded(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        let found: Option<String> = backups::table.find(id).select(backups::id).first(conn).optional()?;
        Ok(found.is_some())
    }

    /// A live backup of `tenant` (None: any project's).
    pub fn find_for(conn: &mut DbConn, tenant: Option<&str>, id: &str) -> Result<Option<Backup>, DbError> {
        Ok(Self::find(conn, id)?.filter(|b| tenant.is_none_or(|t| b.tenant_id == t)))
    }

    /// One page of live backups, most recently updated first; `offset` is Trove's integer marker.
    pub fn list(conn: &mut DbConn, filter: &BackupFilter, limit: i64, offset: i64) -> Result<Vec<Backup>, DbError> {
        let mut query = backups::table
            .filter(backups::deleted.eq(false))
            .order((backups::updated.desc(), backups::id.desc()))
            .limit(limit)
            .offset(offset.max(0))
            .select(Backup::as_select())
            .into_boxed();
        if let Some(t) = &filter.tenant {
            query = query.filter(backups::tenant_id.eq(t.clone()));
        }
        if let Some(i) = &filter.instance_id {
            query = query.filter(backups::instance_id.eq(i.clone()));
        }
        if let Some(v) = &filter.datastore_version_ids {
            query = query.filter(backups::datastore_version_id.eq_any(v.clone()));
        }
        Ok(query.load(conn)?)
    }

    /// Every live backup of an instance, oldest first.
    pub fn of_instance(conn: &mut DbConn, instance_id: &str) -> Result<Vec<Backup>, DbError> {
        Ok(backups::table
            .filter(backups::instance_id.eq(instance_id))
            .filter(backups::deleted.eq(false))
            .order((backups::created.asc(), backups::id.asc()))
            .select(Backup::as_select())
            .load(conn)?)
    }

    /// The newest COMPLETED backup of an instance (the parent `incremental: 1` chains on).
    pub fn last_completed(conn: &mut DbConn, instance_id: &str) -> Result<Option<Backup>, DbError> {
        Ok(backups::table
            .filter(backups::instance_id.eq(instance_id))
            .filter(backups::deleted.eq(false))
            .filter(backups::state.eq(COMPLETED))
            .order((backups::created.desc(), backups::id.desc()))
            .select(Backup::as_select())
            .first(conn)
            .optional()?)
    }

    /// The backup and its ancestors, the full backup first.
    pub fn chain(conn: &mut DbConn, id: &str) -> Result<Vec<Backup>, DbError> {
        let mut chain = Vec::new();
        let mut next = Some(id.to_string());
        while let Some(id) = next {
            let Some(b) = Self::find(conn, &id)? else {
                return Err(DbError::Invalid(format!("backup {id} of the chain is gone")));
            };
            if chain.iter().any(|c: &Backup| c.id == b.id) {
                return Err(DbError::Invalid("the backup chain loops".into()));
            }
            next = b.parent_id.clone();
            chain.push(b);
        }
        chain.reverse();
        Ok(chain)
    }

    /// The backup and every backup chained on it, children after their parents.
    pub fn with_descendants(conn: &mut DbConn, id: &str) -> Result<Vec<Backup>, DbError> {
        let Some(root) = Self::find(conn, id)? else {
            return Ok(Vec::new());
        };
        let mut all = vec![root];
        let mut i = 0;
        while i < all.len() {
            let children: Vec<Backup> = backups::table
                .filter(backups::parent_id.eq(&all[i].id))
                .filter(backups::deleted.eq(false))
                .select(Backup::as_select())
                .load(conn)?;
            for child in children {
                if !all.iter().any(|a| a.id == child.id) {
                    all.push(child);
                }
            }
            i += 1;
        }
        Ok(all)
    }

    /// Ends a backup as FAILED with `reason` (unless it completed meanwhile).
    pub fn fail(conn: &mut DbConn, id: &str, reason: &str) -> Result<bool, DbError> {
        let now = now_ms();
        let n = diesel::update(
            backups::table
                .find(id)
                .filter(backups::state.ne(COMPLETED))
                .filter(backups::deleted.eq(false)),
        )
        .set((
            backups::state.eq(FAILED),
            backups::fail_reason.eq(Some(reason)),
            backups::updated.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks every running backup of an instance FAILED (Trove's `fail_for_instance`).
    pub fn fail_running_of(conn: &mut DbConn, instance_id: &str, reason: &str) -> Result<usize, DbError> {
        Ok(diesel::update(
            backups::table
                .filter(backups::instance_id.eq(instance_id))
                .filter(backups::deleted.eq(false))
                .filter(backups::state.eq_any(RUNNING)),
        )
        .set((
            backups::state.eq(FAILED),
            backups::fail_reason.eq(Some(reason)),
            backups::updated.eq(now_ms()),
        ))
        .execute(conn)?)
    }

    pub fn set_state(conn: &mut DbConn, id: &str, state: &str, reason: Option<&str>) -> Result<(), DbError> {
        diesel::update(backups::table.find(id))
            .set((
                backups::state.eq(state),
                backups::fail_reason.eq(reason),
                backups::updated.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn mark_deleted(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        let now = now_ms();
        let n = diesel::update(backups::table.find(id).filter(backups::deleted.eq(false)))
            .set((
                backups::deleted.eq(true),
                backups::deleted_at.eq(Some(now)),
                backups::updated.eq(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks a scheduled run's backup as such.
    pub fn mark_scheduled(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
        diesel::update(backups::table.find(id))
            .set(backups::schedule_run.eq(true))
            .execute(conn)?;
        Ok(())
    }
}
