//! The read-mostly catalog: datastores, their versions, and flavors.

use crate::db::schema::{datastore_versions, datastores, flavors};
use crate::db::{on_backend, DbConn, DbError};
use crate::manager::Manager;
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datastores)]
pub struct Datastore {
    pub id: String,
    pub name: String,
    pub manager: String,
    pub default_version_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datastore_versions)]
pub struct DatastoreVersion {
    pub id: String,
    pub datastore_id: String,
    pub name: String,
    pub manager: String,
    pub version: String,
    pub active: bool,
    pub packages: String,
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = flavors)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub ram: i32,
    pub vcpus: i32,
    pub disk: i32,
    pub ephemeral: i32,
}

impl Datastore {
    /// Every datastore with its versions, in two queries.
    pub fn all_with_versions(conn: &mut DbConn) -> Result<Vec<(Datastore, Vec<DatastoreVersion>)>, DbError> {
        let stores = datastores::table
            .order(datastores::name)
            .select(Datastore::as_select())
            .load(conn)?;
        let versions = datastore_versions::table
            .order(datastore_versions::name)
            .select(DatastoreVersion::as_select())
            .load(conn)?;
        Ok(stores
            .into_iter()
            .map(|ds| {
                let own = versions.iter().filter(|v| v.datastore_id == ds.id).cloned().collect();
                (ds, own)
            })
            .collect())
    }

    /// Looks a datastore up by id or by name, as Trove does.
    pub fn find_by_id_or_name(conn: &mut DbConn, key: &str) -> Result<Option<Datastore>, DbError> {
        let found = datastores::table.filter(datastores::id.eq(key).or(datastores::name.eq(key)));
        Ok(on_backend!(conn, |c| found
            .select(Datastore::as_select())
            .first(c)
            .optional())?)
    }
}

impl DatastoreVersion {
    pub fn for_datastore(conn: &mut DbConn, datastore_id: &str) -> Result<Vec<DatastoreVersion>, DbError> {
        Ok(datastore_versions::table
            .filter(datastore_versions::datastore_id.eq(datastore_id))
            .order(datastore_versions::name)
            .select(DatastoreVersion::as_select())
            .load(conn)?)
    }

    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<DatastoreVersion>, DbError> {
        let found = datastore_versions::table.find(id);
        Ok(on_backend!(conn, |c| found
            .select(DatastoreVersion::as_select())
            .first(c)
            .optional())?)
    }

    /// A version of `datastore_id` by id or name.
    pub fn find_in(conn: &mut DbConn, datastore_id: &str, key: &str) -> Result<Option<DatastoreVersion>, DbError> {
        Ok(datastore_versions::table
            .filter(datastore_versions::datastore_id.eq(datastore_id))
            .filter(datastore_versions::id.eq(key).or(datastore_versions::name.eq(key)))
            .select(DatastoreVersion::as_select())
            .first(conn)
            .optional()?)
    }
}

impl DatastoreVersion {
    /// Marks active exactly the versions in `installed` (adding rows for versions the catalog
    /// lacks, which become their datastore's default); other versions of real datastores are
    /// inactive, since their binaries are missing.
    pub fn sync_installed(conn: &mut DbConn, installed: &[(Manager, String)]) -> Result<(), DbError> {
        crate::db::write_tx(conn, |conn| {
            diesel::update(
                datastore_versions::table
                    .filter(datastore_versions::manager.eq_any(Manager::REAL.map(Manager::as_str))),
            )
            .set(datastore_versions::active.eq(false))
            .execute(conn)?;
            for (manager, name) in installed {
                let Some(ds) = Datastore::find_by_id_or_name(conn, manager.as_str())? else {
                    continue;
                };
                let existing = DatastoreVersion::find_in(conn, &ds.id, name)?;
                let id = match existing {
                    Some(v) => v.id,
                    None => {
                        let id = uuid::Uuid::new_v4().to_string();
                        diesel::insert_into(datastore_versions::table)
                            .values((
                                datastore_versions::id.eq(&id),
                                datastore_versions::datastore_id.eq(&ds.id),
                                datastore_versions::name.eq(name),
                                datastore_versions::manager.eq(manager.as_str()),
                                datastore_versions::version.eq(name),
                                datastore_versions::active.eq(true),
                                datastore_versions::packages.eq(""),
                            ))
                            .execute(conn)?;
                        diesel::update(datastores::table.find(&ds.id))
                            .set(datastores::default_version_id.eq(Some(&id)))
                            .execute(conn)?;
                        id
                    }
                };
                diesel::update(datastore_versions::table.find(&id))
                    .set(datastore_versions::active.eq(true))
                    .execute(conn)?;
            }
            Ok(())
        })
    }
}

impl Flavor {
    pub fn all(conn: &mut DbConn) -> Result<Vec<Flavor>, DbError> {
        Ok(flavors::table
            .order(flavors::ram)
            .select(Flavor::as_select())
            .load(conn)?)
    }

    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Flavor>, DbError> {
        let found = flavors::table.find(id);
        Ok(on_backend!(conn, |c| found
            .select(Flavor::as_select())
            .first(c)
            .optional())?)
    }

    /// A flavor by id, else by name (a `flavorRef` may be either).
    pub fn find_by_id_or_name(conn: &mut DbConn, key: &str) -> Result<Option<Flavor>, DbError> {
        match Self::find(conn, key)? {
            Some(f) => Ok(Some(f)),
            None => Ok(flavors::table
                .filter(flavors::name.eq(key))
                .order(flavors::id)
                .select(Flavor::as_select())
                .first(conn)
                .optional()?),
        }
    }
}

/// The whole catalog as one read saw it, with the lookups the API makes of it (the same
/// answers as the queries above).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// By name, each with its versions by name.
    pub datastores: Vec<(Datastore, Vec<DatastoreVersion>)>,
    /// By RAM.
    pub flavors: Vec<Flavor>,
    /// Each version by id, with its datastore, shared with the records that show them.
    versions: HashMap<String, (Arc<DatastoreVersion>, Arc<Datastore>)>,
}

impl Catalog {
    pub fn load(conn: &mut DbConn) -> Result<Catalog, DbError> {
        let datastores = Datastore::all_with_versions(conn)?;
        let mut versions = HashMap::new();
        for (ds, of_ds) in &datastores {
            let ds = Arc::new(ds.clone());
            for v in of_ds {
                versions.insert(v.id.clone(), (Arc::new(v.clone()), ds.clone()));
            }
        }
        Ok(Catalog {
            datastores,
            flavors: Flavor::all(conn)?,
            versions,
        })
    }

    /// Where in [`Catalog::datastores`] the datastore `key` names (by id, else by name) is.
    pub fn datastore_at(&self, key: &str) -> Option<usize> {
        let by_id = self.datastores.iter().position(|(ds, _)| ds.id == key);
        by_id.or_else(|| self.datastores.iter().position(|(ds, _)| ds.name == key))
    }

    /// One of `versions` by id, else by name.
    pub fn version_in<'a>(versions: &'a [DatastoreVersion], key: &str) -> Option<&'a DatastoreVersion> {
        let by_id = versions.iter().find(|v| v.id == key);
        by_id.or_else(|| versions.iter().find(|v| v.name == key))
    }

    /// A version by id, with its datastore.
    pub fn version(&self, id: &str) -> Option<(Arc<DatastoreVersion>, Arc<Datastore>)> {
        self.versions.get(id).cloned()
    }

    /// A flavor by id.
    pub fn flavor(&self, id: &str) -> Option<&Flavor> {
        self.flavors.iter().find(|f| f.id == id)
    }
}
