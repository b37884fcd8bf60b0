//! The guest's reports on a backup's attempts (`update_backup`), each applied by one conditional
//! write: for the backup's current attempt only, newer than the last applied one (`last_sent`),
//! and never once the backup has ended — so a late or duplicated report cannot undo a result.

use super::{Backup, BUILDING, FAILED, NEW, RUNNING};
use crate::db::schema::backups;
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;

/// What the guest reports of one attempt (`update_backup`, Trove's arguments plus coffer's).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BackupReport {
    pub instance_id: String,
    pub backup_id: String,
    /// The attempt reported on; a Trove guest sends none (the current attempt is meant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    pub sent: f64,
    pub state: String,
    /// Bytes stored (coffer's guests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// GB stored, as a Trove guest reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Backup {
    /// Applies a guest report; false when it is stale, for another attempt, or the backup ended.
    /// A failed attempt keeps the backup running (BUILDING): only its flow ends it.
    pub fn apply_report(conn: &mut DbConn, r: &BackupReport) -> Result<bool, DbError> {
        let now = now_ms();
        let attempt = match r.attempt {
            Some(a) => a,
            None => match Self::find(conn, &r.backup_id)? {
                Some(b) => b.attempt,
                None => return Ok(false),
            },
        };
        let size = r.size_bytes.or(r.size.map(|gb| (gb * 1024.0 * 1024.0 * 1024.0) as i64));
        let target = backups::table
            .find(&r.backup_id)
            .filter(backups::instance_id.eq(&r.instance_id))
            .filter(backups::attempt.eq(attempt))
            .filter(backups::attempt_failed.eq(false))
            .filter(backups::last_sent.lt(r.sent))
            .filter(backups::state.eq_any(RUNNING))
            .filter(backups::deleted.eq(false));
        let meta = r.meta.as_ref().map(|m| m.to_string());
        let failed = r.state == FAILED;
        let state = if failed { BUILDING } else { r.state.as_str() };
        let n = diesel::update(target)
            .set((
                backups::state.eq(state),
                backups::attempt_failed.eq(failed),
                backups::last_sent.eq(r.sent),
                backups::progress_at.eq(now),
                backups::updated.eq(now),
                size.map(|s| backups::size_bytes.eq(s)),
                r.checksum.as_ref().map(|c| backups::checksum.eq(c)),
                r.object_key.as_ref().map(|k| backups::object_key.eq(k)),
                r.location.as_ref().map(|l| backups::location.eq(l)),
                meta.map(|m| backups::meta.eq(m)),
                r.reason.as_ref().map(|m| backups::fail_reason.eq(m)),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Starts attempt `attempt + 1` of a running backup whose attempt `attempt` failed or was
    /// lost (a backup that ended meanwhile, e.g. by reset_status, stays ended).
    pub fn next_attempt(conn: &mut DbConn, id: &str, attempt: i32, reason: &str) -> Result<bool, DbError> {
        let now = now_ms();
        let n = diesel::update(
            backups::table
                .find(id)
                .filter(backups::attempt.eq(attempt))
                .filter(backups::state.eq_any(RUNNING))
                .filter(backups::deleted.eq(false)),
        )
        .set((
            backups::attempt.eq(attempt + 1),
            backups::attempt_failed.eq(false),
            backups::state.eq(NEW),
            backups::fail_reason.eq(Some(reason)),
            backups::size_bytes.eq(None::<i64>),
            backups::progress_at.eq(now),
            backups::updated.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }
}
