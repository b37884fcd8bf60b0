//! An instance's task (`instances.task_id`): started only when it has none, ended by whoever
//! owns it, and resting on RESTART_REQUIRED rather than NONE while its server owes a restart to
//! its configuration.

use super::Instance;
use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::instances;
use crate::db::{now_ms, on_backend, DbConn, DbError};
use crate::status::Task;
use diesel::prelude::*;

impl Instance {
    pub fn set_task(conn: &mut DbConn, id: &str, task: Task) -> Result<(), DbError> {
        let now = now_ms();
        diesel::update(instances::table.find(id))
            .set((
                instances::task_id.eq(task.code()),
                instances::task_description.eq(task.description()),
                instances::task_start_time.eq(Some(now)),
                instances::updated.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Starts task `to` if the instance has none: the conditional update decides between two
    /// requests at once (and locks the row for the rest of the transaction on PostgreSQL).
    pub fn begin_task(conn: &mut DbConn, id: &str, to: Task) -> Result<bool, DbError> {
        let now = now_ms();
        let n = diesel::update(
            instances::table
                .find(id)
                .filter(instances::task_id.eq_any([Task::None.code(), Task::RestartRequired.code()])),
        )
        .set((
            instances::task_id.eq(to.code()),
            instances::task_description.eq(to.description()),
            instances::task_start_time.eq(Some(now)),
            instances::updated.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Ends task `from` (back to NONE) — unless another task (a delete) has replaced it since.
    pub fn clear_task(conn: &mut DbConn, id: &str, from: Task) -> Result<bool, DbError> {
        Self::replace_task(conn, id, from, Task::None)
    }

    /// The task an instance rests on: NONE, or RESTART_REQUIRED while its server runs with
    /// older configuration values.
    fn idle_task(conn: &mut DbConn, id: &str) -> Result<Task, DbError> {
        let pending: Option<bool> = instances::table
            .find(id)
            .select(instances::restart_pending)
            .first(conn)
            .optional()?;
        Ok(match pending {
            Some(true) => Task::RestartRequired,
            _ => Task::None,
        })
    }

    /// Records whether the server owes a restart to its configuration; an idle task follows.
    pub fn set_restart_pending(conn: &mut DbConn, id: &str, pending: bool) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set(instances::restart_pending.eq(pending))
            .execute(conn)?;
        let idle = [Task::None.code(), Task::RestartRequired.code()];
        let rest = Self::idle_task(conn, id)?;
        diesel::update(instances::table.find(id).filter(instances::task_id.eq_any(idle)))
            .set((
                instances::task_id.eq(rest.code()),
                instances::task_description.eq(rest.description()),
                instances::updated.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Moves the task from `from` to `to`; false (and nothing written) if it is no longer `from`.
    /// To NONE it is one statement that rests on RESTART_REQUIRED instead while the server owes
    /// a restart, as `idle_task` says.
    pub fn replace_task(conn: &mut DbConn, id: &str, from: Task, to: Task) -> Result<bool, DbError> {
        let now = Bind::BigInt(now_ms());
        let n = match to {
            Task::None => {
                struct EndTask;
                impl StatementText for EndTask {
                    const SQL: &'static str = "UPDATE instances SET \
                        task_id = CASE WHEN restart_pending THEN ? ELSE ? END, \
                        task_description = CASE WHEN restart_pending THEN ? ELSE ? END, \
                        updated = ? WHERE id = ? AND task_id = ?";
                }
                let (pending, idle) = (Task::RestartRequired, Task::None);
                let binds = [
                    Bind::Integer(pending.code()),
                    Bind::Integer(idle.code()),
                    Bind::Text(pending.description()),
                    Bind::Text(idle.description()),
                    now,
                    Bind::Text(id),
                    Bind::Integer(from.code()),
                ];
                on_backend!(conn, |c| Cached::<EndTask>::new(&binds).execute(c))?
            }
            to => {
                struct ReplaceTask;
                impl StatementText for ReplaceTask {
                    const SQL: &'static str = "UPDATE instances SET task_id = ?, task_description = ?, \
                        updated = ? WHERE id = ? AND task_id = ?";
                }
                let binds = [
                    Bind::Integer(to.code()),
                    Bind::Text(to.description()),
                    now,
                    Bind::Text(id),
                    Bind::Integer(from.code()),
                ];
                on_backend!(conn, |c| Cached::<ReplaceTask>::new(&binds).execute(c))?
            }
        };
        Ok(n == 1)
    }
}
