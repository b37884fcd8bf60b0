//! `instances`: one row per database instance, with Trove's task code and description and the
//! compute server's status. Listing joins what the views need in one query per page.

use super::backup::{Backup, RUNNING};
use super::catalog::{Catalog, Datastore, DatastoreVersion};
use super::service_status::ServiceStatusRow;
use crate::db::schema::{backups, datastore_versions, datastores, instances, service_statuses};
use crate::db::{now_ms, DbConn, DbError};
use crate::status::Task;
use diesel::prelude::*;

mod adoption;
mod replication;
mod tasks;

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

/// An instance with everything its API view shows.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    pub instance: Instance,
    pub service: ServiceStatusRow,
    pub datastore: Datastore,
    pub version: DatastoreVersion,
    /// A backup of the instance is running (its status shows BACKUP).
    pub backup_running: bool,
    /// Its live replicas (ids), when it is a replication source.
    pub replicas: Vec<String>,
}

impl InstanceRecord {
    /// What the status rules read of this instance, with the configured heartbeat expiry.
    pub fn status_inputs(&self, heartbeat_expiry_ms: i64) -> crate::status::StatusInputs<'_> {
        crate::status::StatusInputs {
            task: Task::from_code(self.instance.task_id),
            server_status: self.instance.server_status.as_deref(),
            service: self.service.status(),
            heartbeat_age_ms: crate::db::now_ms() - self.service.updated_at,
            heartbeat_expiry_ms,
            backup_running: self.backup_running,
        }
    }
}

type RecordRow = (Instance, ServiceStatusRow, DatastoreVersion, Datastore);

impl From<RecordRow> for InstanceRecord {
    fn from((instance, service, version, datastore): RecordRow) -> Self {
        InstanceRecord {
            instance,
            service,
            datastore,
            version,
            backup_running: false,
            replicas: Vec::new(),
        }
    }
}

/// A page of a listing, and whether another page follows.
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

macro_rules! record_query {
    () => {
        instances::table
            .inner_join(service_statuses::table)
            .inner_join(datastore_versions::table.inner_join(datastores::table))
            .select((
                Instance::as_select(),
                ServiceStatusRow::as_select(),
                DatastoreVersion::as_select(),
                Datastore::as_select(),
            ))
    };
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

    /// A live instance of `tenant`; another project's instance is "not found".
    pub fn find_record(conn: &mut DbConn, tenant: &str, id: &str) -> Result<Option<InstanceRecord>, DbError> {
        let row: Option<RecordRow> = record_query!()
            .filter(instances::id.eq(id))
            .filter(instances::tenant_id.eq(tenant))
            .filter(instances::deleted.eq(false))
            .first(conn)
            .optional()?;
        let mut record = row.map(InstanceRecord::from);
        if let Some(r) = record.as_mut() {
            let ids = std::slice::from_ref(&r.instance.id);
            r.backup_running = !Backup::instances_backing_up(conn, ids)?.is_empty();
            r.replicas = Self::replicas_of(conn, ids)?.remove(&r.instance.id).unwrap_or_default();
        }
        Ok(record)
    }

    /// One page of live instances, newest first — of `tenant`, or of every project (the admin
    /// list) when `tenant` is None; `marker` is the last id of the previous page.
    /// Each record's datastore and version come from `catalog` (a version it lacks is read),
    /// so the rows read are the instance's and its status's only.
    pub fn list_page(
        conn: &mut DbConn,
        catalog: &Catalog,
        tenant: Option<&str>,
        limit: i64,
        marker: Option<&str>,
    ) -> Result<Page<InstanceRecord>, DbError> {
        let mut rows = Self::page_rows(conn, tenant, limit, marker)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let mut items = Vec::with_capacity(rows.len());
        let mut sources = Vec::new();
        for (instance, service, backup_running, has_replicas) in rows {
            let (version, datastore) = match catalog.version(&instance.datastore_version_id) {
                Some((v, ds)) => (v.clone(), ds.clone()),
                None => Self::version_and_datastore(conn, &instance.datastore_version_id)?,
            };
            if has_replicas {
                sources.push(instance.id.clone());
            }
            let mut record = InstanceRecord::from((instance, service, version, datastore));
            record.backup_running = backup_running;
            items.push(record);
        }
        // Replicas are read only for the page's replication sources: most pages have none.
        if !sources.is_empty() {
            let mut replicas = Self::replicas_of(conn, &sources)?;
            for r in &mut items {
                r.replicas = replicas.remove(&r.instance.id).unwrap_or_default();
            }
        }
        Ok(Page { items, more })
    }

    /// The rows of any page: of a project or of all, after a marker or not, each with whether
    /// a backup of it runs and whether it has live replicas. One statement, whose text depends
    /// only on which of `tenant` and `marker` are given, so its prepared form is reused.
    fn page_rows(
        conn: &mut DbConn,
        tenant: Option<&str>,
        limit: i64,
        marker: Option<&str>,
    ) -> Result<Vec<(Instance, ServiceStatusRow, bool, bool)>, DbError> {
        // Both running states, spelled out: `eq_any` would make the statement uncacheable.
        const _: () = assert!(RUNNING.len() == 2);
        let replica = diesel::alias!(instances as replica);
        let backup_running = diesel::dsl::exists(
            backups::table
                .filter(backups::instance_id.eq(instances::id))
                .filter(backups::deleted.eq(false))
                .filter(backups::state.eq(RUNNING[0]).or(backups::state.eq(RUNNING[1]))),
        );
        let has_replicas = diesel::dsl::exists(
            replica
                .filter(replica.field(instances::slave_of_id).eq(instances::id.nullable()))
                .filter(replica.field(instances::deleted).eq(false)),
        );
        let mut query = instances::table
            .inner_join(service_statuses::table)
            .select((
                Instance::as_select(),
                ServiceStatusRow::as_select(),
                backup_running,
                has_replicas,
            ))
            .filter(instances::deleted.eq(false))
            .order((instances::created.desc(), instances::id.desc()))
            .limit(limit + 1)
            .into_boxed();
        if let Some(tenant) = tenant {
            query = query.filter(instances::tenant_id.eq(tenant.to_string()));
        }
        if let Some(marker) = marker {
            let mut of_marker = instances::table.find(marker).select(instances::created).into_boxed();
            if let Some(tenant) = tenant {
                of_marker = of_marker.filter(instances::tenant_id.eq(tenant.to_string()));
            }
            let created: i64 = of_marker.first(conn)?;
            query = query.filter(
                instances::created
                    .lt(created)
                    .or(instances::created.eq(created).and(instances::id.lt(marker.to_string()))),
            );
        }
        Ok(query.load(conn)?)
    }

    /// A version and its datastore, read (one the catalog in memory does not have yet).
    fn version_and_datastore(conn: &mut DbConn, version_id: &str) -> Result<(DatastoreVersion, Datastore), DbError> {
        datastore_versions::table
            .inner_join(datastores::table)
            .filter(datastore_versions::id.eq(version_id))
            .select((DatastoreVersion::as_select(), Datastore::as_select()))
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::Invalid(format!("datastore version {version_id} does not exist")))
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
        diesel::update(instances::table.find(id))
            .set((
                instances::server_status.eq(server_status),
                instances::compute_instance_id.eq(compute_instance_id),
                instances::address.eq(address),
                instances::updated.eq(now_ms()),
            ))
            .execute(conn)?;
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
            diesel::update(row).set(instances::server_version.eq(v)).execute(conn)?;
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
