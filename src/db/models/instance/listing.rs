//! What the API's instance views read: one instance, or one page of a listing. Either comes in
//! one statement whose rows carry whether a backup of the instance runs and whether it has live
//! replicas (two `EXISTS` columns, one definition for both). Every statement here has a fixed
//! type (never boxed): diesel then keys its prepared form by that type, and never renders its
//! SQL again after the first use on a connection.

use super::listed::{ListedInstance, ListedStatus};
use super::Instance;
use crate::db::models::backup::RUNNING;
use crate::db::models::catalog::{Catalog, Datastore, DatastoreVersion};
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::schema::{backups, datastore_versions, datastores, instances, service_statuses};
use crate::db::{on_backend, DbConn, DbError};
use diesel::prelude::*;
use std::sync::Arc;

/// An instance with everything its API view shows: its whole row and status row (show,
/// create, actions), or only what a list shows ([`ListedRecord`]).
#[derive(Debug, Clone)]
pub struct InstanceRecord<I = Instance, S = ServiceStatusRow> {
    pub instance: I,
    pub service: S,
    /// Shared with the API's catalog in memory when it came from there.
    pub datastore: Arc<Datastore>,
    pub version: Arc<DatastoreVersion>,
    /// A backup of the instance is running (its status shows BACKUP).
    pub backup_running: bool,
    /// Its live replicas (ids), when it is a replication source.
    pub replicas: Vec<String>,
}

impl From<(Instance, ServiceStatusRow, DatastoreVersion, Datastore)> for InstanceRecord {
    /// A record with no backup running and no replicas (a create's own).
    fn from(
        (instance, service, version, datastore): (Instance, ServiceStatusRow, DatastoreVersion, Datastore),
    ) -> Self {
        InstanceRecord {
            instance,
            service,
            datastore: Arc::new(datastore),
            version: Arc::new(version),
            backup_running: false,
            replicas: Vec::new(),
        }
    }
}

/// A listed instance: only the columns its list view shows, of its row and its status row.
pub type ListedRecord = InstanceRecord<ListedInstance, ListedStatus>;

/// A page of a listing, and whether another page follows.
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// `(a backup of the instance runs, it has live replicas)` as two `EXISTS` columns, for any
/// statement over `instances`.
macro_rules! view_flags {
    () => {{
        // Both running states, spelled out: `eq_any` would make the statement uncacheable.
        const _: () = assert!(RUNNING.len() == 2);
        let replica = diesel::alias!(instances as replica);
        (
            diesel::dsl::exists(
                backups::table
                    .filter(backups::instance_id.eq(instances::id))
                    .filter(backups::deleted.eq(false))
                    .filter(backups::state.eq(RUNNING[0]).or(backups::state.eq(RUNNING[1]))),
            ),
            diesel::dsl::exists(
                replica
                    .filter(replica.field(instances::slave_of_id).eq(instances::id.nullable()))
                    .filter(replica.field(instances::deleted).eq(false)),
            ),
        )
    }};
}

/// The row of one instance's view: the instance, its status, version, datastore and flags.
type ShowRow = (Instance, ServiceStatusRow, DatastoreVersion, Datastore, (bool, bool));

/// A row of a page: the instance and its status as the list shows them, and its [`view_flags`].
type PageRow = (ListedInstance, ListedStatus, (bool, bool));

/// The statement of a page: live instances newest first, with `filter`s (each its own type, so
/// each combination is its own cached statement).
macro_rules! page_statement {
    ($limit:expr $(, $filter:expr)*) => {{
        let query = instances::table
            .inner_join(service_statuses::table)
            .select((ListedInstance::as_select(), ListedStatus::as_select(), view_flags!()))
            .filter(instances::deleted.eq(false));
        $(let query = query.filter($filter);)*
        query.order((instances::created.desc(), instances::id.desc())).limit($limit)
    }};
}

/// The statement of one live instance of `tenant` with everything its view shows.
macro_rules! show_statement {
    ($tenant:expr, $id:expr) => {
        instances::table
            .inner_join(service_statuses::table)
            .inner_join(datastore_versions::table.inner_join(datastores::table))
            .select((
                Instance::as_select(),
                ServiceStatusRow::as_select(),
                DatastoreVersion::as_select(),
                Datastore::as_select(),
                view_flags!(),
            ))
            .filter(instances::id.eq($id))
            .filter(instances::tenant_id.eq($tenant))
            .filter(instances::deleted.eq(false))
    };
}

/// Rows after `(created, id)` in the listing's order. The plain `created <=` bound lets the
/// page start at the marker in its index instead of scanning the pages before it.
macro_rules! after {
    ($created:expr, $id:expr) => {
        instances::created.le($created).and(
            instances::created
                .lt($created)
                .or(instances::created.eq($created).and(instances::id.lt($id))),
        )
    };
}

impl Instance {
    /// A live instance of `tenant`; another project's instance is "not found".
    pub fn find_record(conn: &mut DbConn, tenant: &str, id: &str) -> Result<Option<InstanceRecord>, DbError> {
        let row: Option<ShowRow> = on_backend!(conn, |c| show_statement!(tenant, id).first(c).optional())?;
        let Some((instance, service, version, datastore, (backup_running, has_replicas))) = row else {
            return Ok(None);
        };
        let replicas = match has_replicas {
            true => Self::replicas_of(conn, std::slice::from_ref(&instance.id))?
                .remove(&instance.id)
                .unwrap_or_default(),
            false => Vec::new(),
        };
        Ok(Some(InstanceRecord {
            instance,
            service,
            datastore: Arc::new(datastore),
            version: Arc::new(version),
            backup_running,
            replicas,
        }))
    }

    /// One page of live instances, newest first — of `tenant`, or of every project (the admin
    /// list) when `tenant` is None; `marker` is the last id of the previous page.
    /// Each record's datastore and version come from `catalog` (a version it lacks is read),
    /// so the rows read are the instance's and its status's only, and of those only the
    /// columns the list view shows.
    pub fn list_page(
        conn: &mut DbConn,
        catalog: &Catalog,
        tenant: Option<&str>,
        limit: i64,
        marker: Option<&str>,
    ) -> Result<Page<ListedRecord>, DbError> {
        let mut rows = Self::page_rows(conn, tenant, limit.max(0) + 1, marker)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let mut items = Vec::with_capacity(rows.len());
        let mut sources = Vec::new();
        for (instance, service, (backup_running, has_replicas)) in rows {
            let (version, datastore) = match catalog.version(&instance.datastore_version_id) {
                Some(shared) => shared,
                None => {
                    let (v, ds) = Self::version_and_datastore(conn, &instance.datastore_version_id)?;
                    (Arc::new(v), Arc::new(ds))
                }
            };
            if has_replicas {
                sources.push(instance.id.clone());
            }
            items.push(ListedRecord {
                instance,
                service,
                datastore,
                version,
                backup_running,
                replicas: Vec::new(),
            });
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

    /// Up to `rows` rows of any page: of a project or of all, after a marker or not. Four
    /// statements, one per case, each cached by its type.
    fn page_rows(
        conn: &mut DbConn,
        tenant: Option<&str>,
        rows: i64,
        marker: Option<&str>,
    ) -> Result<Vec<PageRow>, DbError> {
        let after = match marker {
            Some(marker) => Some((Self::marker_created(conn, tenant, marker)?, marker)),
            None => None,
        };
        Ok(match (tenant, after) {
            (Some(t), None) => on_backend!(conn, |c| page_statement!(rows, instances::tenant_id.eq(t)).load(c)),
            (None, None) => on_backend!(conn, |c| page_statement!(rows).load(c)),
            (Some(t), Some((at, m))) => on_backend!(conn, |c| page_statement!(
                rows,
                instances::tenant_id.eq(t),
                after!(at, m)
            )
            .load(c)),
            (None, Some((at, m))) => on_backend!(conn, |c| page_statement!(rows, after!(at, m)).load(c)),
        }?)
    }

    /// When the marker instance (of `tenant`, when given) was created; "not found" otherwise.
    fn marker_created(conn: &mut DbConn, tenant: Option<&str>, marker: &str) -> Result<i64, DbError> {
        let of_marker = instances::table.find(marker).select(instances::created);
        Ok(match tenant {
            Some(t) => on_backend!(conn, |c| of_marker.filter(instances::tenant_id.eq(t)).first(c)),
            None => on_backend!(conn, |c| of_marker.first(c)),
        }?)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::query_builder::QueryId;
    use diesel::sqlite::{Sqlite, SqliteConnection};

    /// Whether diesel keys `statement`'s prepared form by its type on coffer's connections.
    fn cached_by_type<T>(_: &T) -> bool
    where
        T: QueryId + diesel::query_builder::QueryFragment<<DbConn as diesel::Connection>::Backend>,
    {
        T::HAS_STATIC_QUERY_ID
    }

    #[test]
    fn every_page_statement_is_cached_by_its_type() {
        let (t, c, m) = ("tenant", 7_i64, "marker");
        assert!(cached_by_type(&page_statement!(21_i64, instances::tenant_id.eq(t))));
        assert!(cached_by_type(&page_statement!(21_i64)));
        assert!(cached_by_type(&page_statement!(
            21_i64,
            instances::tenant_id.eq(t),
            after!(c, m)
        )));
        assert!(cached_by_type(&page_statement!(21_i64, after!(c, m))));
        assert!(cached_by_type(&show_statement!(t, m).limit(1)));
        let of_marker = instances::table.find(m).select(instances::created);
        assert!(cached_by_type(&of_marker.filter(instances::tenant_id.eq(t)).limit(1)));
    }

    #[test]
    fn a_shown_instance_reads_one_row_by_its_key() {
        let plan = {
            let dir = tempfile::tempdir().expect("a temp dir");
            let mut conn = migrated(dir.path());
            plan_of(&mut conn, &show_statement!("tenant", "id"))
        };
        assert!(
            plan.contains("instances USING INDEX sqlite_autoindex_instances_1 (id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "{plan}");
    }

    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// A freshly migrated SQLite database in `dir`.
    fn migrated(dir: &std::path::Path) -> SqliteConnection {
        let path = dir.join("plan.db");
        let url = format!("sqlite://{}", path.display());
        drop(crate::db::Db::connect(&url, 1, std::time::Duration::from_secs(10)).expect("migrated"));
        SqliteConnection::establish(&path.to_string_lossy()).expect("opened")
    }

    /// The query plan of `statement`'s SQL on a freshly migrated SQLite database.
    fn plan_of<T: diesel::query_builder::QueryFragment<Sqlite>>(conn: &mut SqliteConnection, statement: &T) -> String {
        let text = diesel::debug_query::<Sqlite, _>(statement).to_string();
        let sql = text.split(" -- binds:").next().unwrap_or_default();
        let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(conn)
            .expect("the statement is planned");
        plan.into_iter().map(|l| l.detail).collect::<Vec<_>>().join("\n")
    }

    /// Each page reads its listing index in order and stops at its limit (no sort of every
    /// live instance), and each flag is one probe of its own index. A migration that drops or
    /// reorders these indexes halves the list's rate; this test fails first.
    #[test]
    fn pages_read_their_listing_index_in_order() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut conn = migrated(dir.path());
        let (t, c, m) = ("tenant", 7_i64, "marker");
        let tenant = "instances USING INDEX instances_tenant_listing (tenant_id=? AND deleted=?";
        let admin = "instances USING INDEX instances_admin_listing (deleted=?";
        let plans = [
            (
                format!("{tenant})"),
                plan_of(&mut conn, &page_statement!(21_i64, instances::tenant_id.eq(t))),
            ),
            (format!("{admin})"), plan_of(&mut conn, &page_statement!(21_i64))),
            (
                format!("{tenant} AND created<?)"),
                plan_of(
                    &mut conn,
                    &page_statement!(21_i64, instances::tenant_id.eq(t), after!(c, m)),
                ),
            ),
            (
                format!("{admin} AND created<?)"),
                plan_of(&mut conn, &page_statement!(21_i64, after!(c, m))),
            ),
        ];
        for (rows_read, plan) in plans {
            assert!(plan.contains(&rows_read), "not {rows_read}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "a page sorts its rows:\n{plan}");
            assert!(plan.contains("USING INDEX backups_instance"), "{plan}");
            assert!(
                plan.contains("replica USING INDEX instances_slave_of_id (slave_of_id=? AND deleted=?)"),
                "{plan}"
            );
        }
    }
}
