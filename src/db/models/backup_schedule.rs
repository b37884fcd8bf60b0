//! `backup_schedules`: one per instance that has one — when its next full and incremental runs
//! are due, and how many backups (or how many days of them) to keep.
//!
//! A run is claimed by moving its due time forward with a write conditional on the due time read,
//! in the transaction that records the run's backup: a run is never doubled (two schedulers, or a
//! restart between the two writes) and never lost (nothing moves unless the backup is recorded).

use crate::db::schema::backup_schedules;
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, serde::Serialize)]
#[diesel(table_name = backup_schedules, treat_none_as_null = true)]
pub struct BackupSchedule {
    pub instance_id: String,
    pub tenant_id: String,
    pub full_every_s: i64,
    pub full_at: Option<String>,
    pub incremental_every_s: Option<i64>,
    pub retention_count: Option<i32>,
    pub retention_days: Option<i32>,
    pub next_full_at: i64,
    pub next_incremental_at: Option<i64>,
    pub last_error: Option<String>,
    pub created: i64,
    pub updated: i64,
}

/// Which run of a schedule is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Full,
    Incremental,
}

impl BackupSchedule {
    /// Inserts or replaces the instance's schedule.
    pub fn upsert(conn: &mut DbConn, schedule: &BackupSchedule) -> Result<(), DbError> {
        let n = diesel::update(backup_schedules::table.find(&schedule.instance_id))
            .set(schedule)
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(backup_schedules::table)
                .values(schedule)
                .execute(conn)?;
        }
        Ok(())
    }

    pub fn find(conn: &mut DbConn, instance_id: &str) -> Result<Option<BackupSchedule>, DbError> {
        Ok(backup_schedules::table
            .find(instance_id)
            .select(BackupSchedule::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn delete(conn: &mut DbConn, instance_id: &str) -> Result<bool, DbError> {
        Ok(diesel::delete(backup_schedules::table.find(instance_id)).execute(conn)? == 1)
    }

    pub fn all(conn: &mut DbConn) -> Result<Vec<BackupSchedule>, DbError> {
        Ok(backup_schedules::table.select(BackupSchedule::as_select()).load(conn)?)
    }

    /// The schedules with a run due at `now`.
    pub fn due(conn: &mut DbConn, now: i64) -> Result<Vec<BackupSchedule>, DbError> {
        Ok(backup_schedules::table
            .filter(
                backup_schedules::next_full_at
                    .le(now)
                    .or(backup_schedules::next_incremental_at.le(now)),
            )
            .select(BackupSchedule::as_select())
            .load(conn)?)
    }

    /// Moves the run of `kind` that was due at `due` to `next`; false if another claimed it.
    pub fn claim_run(
        conn: &mut DbConn,
        instance_id: &str,
        kind: RunKind,
        due: i64,
        next: i64,
    ) -> Result<bool, DbError> {
        let row = backup_schedules::table.find(instance_id);
        let now = now_ms();
        let n = match kind {
            RunKind::Full => diesel::update(row.filter(backup_schedules::next_full_at.eq(due)))
                .set((
                    backup_schedules::next_full_at.eq(next),
                    backup_schedules::last_error.eq(None::<String>),
                    backup_schedules::updated.eq(now),
                ))
                .execute(conn)?,
            RunKind::Incremental => diesel::update(row.filter(backup_schedules::next_incremental_at.eq(due)))
                .set((
                    backup_schedules::next_incremental_at.eq(Some(next)),
                    backup_schedules::last_error.eq(None::<String>),
                    backup_schedules::updated.eq(now),
                ))
                .execute(conn)?,
        };
        Ok(n == 1)
    }

    /// Records why a due run could not start (it is tried again at the next tick).
    pub fn note_error(conn: &mut DbConn, instance_id: &str, error: &str) -> Result<(), DbError> {
        diesel::update(backup_schedules::table.find(instance_id))
            .set(backup_schedules::last_error.eq(Some(error)))
            .execute(conn)?;
        Ok(())
    }

    /// The first run time of the `every_ms` grid through `due` that lies after `now`: a run
    /// missed while coffer was down is made once, not once per missed slot.
    pub fn next_after(due: i64, every_ms: i64, now: i64) -> i64 {
        if every_ms <= 0 {
            return now + 1;
        }
        if due > now {
            return due;
        }
        due + ((now - due) / every_ms + 1) * every_ms
    }
}

#[cfg(test)]
mod tests {
    use super::BackupSchedule;

    #[test]
    fn next_run_is_on_the_grid_and_after_now() {
        assert_eq!(BackupSchedule::next_after(1000, 100, 1000), 1100);
        assert_eq!(BackupSchedule::next_after(1000, 100, 1250), 1300);
        assert_eq!(BackupSchedule::next_after(2000, 100, 1000), 2000);
    }
}
