//! `instances`: one row per database instance, with Trove's task code and description and the
//! compute server's status. Listing joins what the views need in one query per page.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::instances;
use crate::db::{now_ms, on_backend, DbConn, DbError};
use crate::status::Task;
use diesel::prelude::*;

mod adoption;
mod listed;
mod listing;
mod replication;
mod tasks;

pub use listed::HeartbeatColumns;
pub use listing::{InstanceRecord, ListedRecord, Page};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = instances)]
pub struct Instance {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub name: String,
    pub tenant_id: String,
    pub flavor_id: String,
    pub volume_size: Option<i32>,
    pub datastore_version_id: String,
    pub task_id: i32,
    pub task_description: String,
    pub task_start_time: Option<i64>,
    /// The compute driver's server status (BUILD, ACTIVE, SHUTDOWN, ERROR), Nova's role in Trove.
    pub server_status: Option<String>,
    pub compute_instance_id: Option<String>,
    pub address: Option<String>,
    pub access: Option<String>,
    pub deleted: bool,
    pub deleted_at: Option<i64>,
    /// The network the create named (`nics[0]`), echoed as `addresses[].network`.
    pub network_id: Option<String>,
    /// The server's full version as it last reported it (`datastore.version_number`).
    pub server_version: Option<String>,
    /// The image id of the last rebuild (kept for admins; coffer has no image service).
    pub image_id: Option<String>,
    /// The configuration group the instance uses.
    pub configuration_id: Option<String>,
    /// Its server runs with values older than its configuration until a restart (an idle task
    /// is then RESTART_REQUIRED, not NONE).
    pub restart_pending: bool,
    /// The instance it is a replica of (Trove's `slave_of_id`).
    pub slave_of_id: Option<String>,
    /// The replication group's password, sealed (see [`crate::flows::replication`]).
    pub replication_secret: Option<String>,
}

impl Instance {
    pub fn task(&self) -> Option<Task> {
        Task::from_code(self.task_id)
    }

    /// A live (not deleted) instance by id, whoever owns it.
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Instance>, DbError> {
        Ok(instances::table
            .find(id)
            .filter(instances::deleted.eq(false))
            .select(Instance::as_select())
            .first(conn)
            .optional()?)
    }

    /// A live instance of `tenant` (another project's is "not found"), without its view's joins.
    pub fn find_owned(conn: &mut DbConn, tenant: &str, id: &str) -> Result<Option<Instance>, DbError> {
        Ok(Self::find(conn, id)?.filter(|i| i.tenant_id == tenant))
    }

    /// Takes the instance's row for the rest of the transaction (on PostgreSQL a row lock; on
    /// SQLite every write transaction is exclusive anyway). Transactions that change an
    /// instance together with its flows or quota take it first, so they never deadlock.
    pub fn lock(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        let n = diesel::update(instances::table.find(id))
            .set(instances::updated.eq(instances::updated))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Links the instance to a configuration group (`None`: detached).
    pub fn set_configuration(conn: &mut DbConn, id: &str, configuration_id: Option<&str>) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set((
                instances::configuration_id.eq(configuration_id),
                instances::updated.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn set_flavor(conn: &mut DbConn, id: &str, flavor_id: &str) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set((instances::flavor_id.eq(flavor_id), instances::updated.eq(now_ms())))
            .execute(conn)?;
        Ok(())
    }

    pub fn set_volume_size(conn: &mut DbConn, id: &str, size: i32) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set((instances::volume_size.eq(Some(size)), instances::updated.eq(now_ms())))
            .execute(conn)?;
        Ok(())
    }

    /// Records what compute reports about the instance's server.
    pub fn set_server(
        conn: &mut DbConn,
        id: &str,
        server_status: Option<&str>,
        compute_instance_id: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), DbError> {
        struct SetServer;
        impl StatementText for SetServer {
            const SQL: &'static str = "UPDATE instances \
                SET server_status = ?, compute_instance_id = ?, address = ?, updated = ? WHERE id = ?";
        }
        let binds = [
            Bind::OptText(server_status),
            Bind::OptText(compute_instance_id),
            Bind::OptText(address),
            Bind::BigInt(now_ms()),
            Bind::Text(id),
        ];
        on_backend!(conn, |c| Cached::<SetServer>::new(&binds).execute(c))?;
        Ok(())
    }

    /// Records the server's status (ACTIVE once its guest answers), its id and address unchanged.
    pub fn set_server_status(conn: &mut DbConn, id: &str, server_status: &str) -> Result<(), DbError> {
        struct SetServerStatus;
        impl StatementText for SetServerStatus {
            const SQL: &'static str = "UPDATE instances SET server_status = ?, updated = ? WHERE id = ?";
        }
        let binds = [Bind::Text(server_status), Bind::BigInt(now_ms()), Bind::Text(id)];
        on_backend!(conn, |c| Cached::<SetServerStatus>::new(&binds).execute(c))?;
        Ok(())
    }

    /// Soft-deletes the row (Trove keeps deleted instances with `deleted = 1`).
    pub fn mark_deleted(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
        let now = now_ms();
        diesel::update(instances::table.find(id))
            .set((
                instances::deleted.eq(true),
                instances::deleted_at.eq(Some(now)),
                instances::task_id.eq(Task::None.code()),
                instances::task_description.eq(Task::None.description()),
                instances::server_status.eq(None::<String>),
                instances::updated.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Addresses of live instances (the compute driver hands out the others).
    pub fn addresses_in_use(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
        Ok(instances::table
            .filter(instances::deleted.eq(false))
            .filter(instances::address.is_not_null())
            .select(instances::address.assume_not_null())
            .load(conn)?)
    }

    /// Records what a create, upgrade or rebuild found: the server's version, and the version
    /// and image the instance now runs (each when given).
    pub fn set_provisioned(
        conn: &mut DbConn,
        id: &str,
        server_version: Option<&str>,
        datastore_version_id: Option<&str>,
        image_id: Option<&str>,
    ) -> Result<(), DbError> {
        let row = instances::table.find(id);
        if let Some(v) = server_version.filter(|v| !v.is_empty()) {
            // Every create ends here: a statement prepared once.
            struct SetServerVersion;
            impl StatementText for SetServerVersion {
                const SQL: &'static str = "UPDATE instances SET server_version = ? WHERE id = ?";
            }
            let binds = [Bind::Text(v), Bind::Text(id)];
            on_backend!(conn, |c| Cached::<SetServerVersion>::new(&binds).execute(c))?;
        }
        if let Some(v) = datastore_version_id {
            diesel::update(row)
                .set(instances::datastore_version_id.eq(v))
                .execute(conn)?;
        }
        if let Some(v) = image_id {
            diesel::update(row).set(instances::image_id.eq(v)).execute(conn)?;
        }
        Ok(())
    }

    /// Records the access rules an update applied.
    pub fn set_access(conn: &mut DbConn, id: &str, access: &str) -> Result<(), DbError> {
        diesel::update(instances::table.find(id))
            .set((instances::access.eq(access), instances::updated.eq(now_ms())))
            .execute(conn)?;
        Ok(())
    }

    pub fn rename(conn: &mut DbConn, id: &str, name: &str) -> Result<bool, DbError> {
        let n = diesel::update(instances::table.find(id).filter(instances::deleted.eq(false)))
            .set((instances::name.eq(name), instances::updated.eq(now_ms())))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// The live instance whose server is `server_id` (the compute view's server).
    pub fn by_server_id(conn: &mut DbConn, server_id: &str) -> Result<Option<Instance>, DbError> {
        Ok(instances::table
            .filter(instances::deleted.eq(false))
            .filter(instances::compute_instance_id.eq(server_id))
            .select(Instance::as_select())
            .first(conn)
            .optional()?)
    }
}
