//! Configuration groups (`configurations`, their values in `configuration_parameters`) and the
//! parameter catalog of each datastore version (`datastore_configuration_parameters`).

use crate::db::schema::{configuration_parameters, configurations, datastore_configuration_parameters, instances};
use crate::db::{now_ms, DbConn, DbError};
use crate::parameters::{ParamType, Parameter};
use diesel::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// A catalog row: a parameter a group may set for one datastore version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = datastore_configuration_parameters)]
pub struct CatalogRow {
    pub id: String,
    pub name: String,
    pub datastore_version_id: String,
    pub restart_required: bool,
    pub data_type: String,
    pub min_size: Option<String>,
    pub max_size: Option<String>,
    pub enum_values: Option<String>,
    pub pattern: Option<String>,
    pub unit: Option<String>,
    /// `builtin` (seeded at every start) or `admin` (never overwritten by seeding).
    pub source: String,
    pub deleted: bool,
    pub created: i64,
    pub updated: i64,
}

pub const BUILTIN: &str = "builtin";
pub const ADMIN: &str = "admin";

impl CatalogRow {
    pub fn new(version_id: &str, p: &Parameter, source: &str) -> CatalogRow {
        let now = now_ms();
        CatalogRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: p.name.clone(),
            datastore_version_id: version_id.to_string(),
            restart_required: p.restart_required,
            data_type: p.data_type.name().to_string(),
            min_size: p.min.as_ref().map(|n| n.to_string()),
            max_size: p.max.as_ref().map(|n| n.to_string()),
            enum_values: p.enum_values.as_ref().map(|e| Value::from(e.clone()).to_string()),
            pattern: p.pattern.clone(),
            unit: p.unit.clone(),
            source: source.to_string(),
            deleted: false,
            created: now,
            updated: now,
        }
    }

    /// The parameter this row describes.
    pub fn parameter(&self) -> Parameter {
        let number = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str(t).ok());
        Parameter {
            name: self.name.clone(),
            data_type: ParamType::parse(&self.data_type).unwrap_or(ParamType::String),
            restart_required: self.restart_required,
            min: number(&self.min_size),
            max: number(&self.max_size),
            unit: self.unit.clone(),
            enum_values: self.enum_values.as_deref().and_then(|e| serde_json::from_str(e).ok()),
            pattern: self.pattern.clone(),
        }
    }

    /// The live parameters of a version, by name.
    pub fn for_version(conn: &mut DbConn, version_id: &str) -> Result<Vec<CatalogRow>, DbError> {
        Ok(datastore_configuration_parameters::table
            .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
            .filter(datastore_configuration_parameters::deleted.eq(false))
            .order(datastore_configuration_parameters::name.asc())
            .select(CatalogRow::as_select())
            .load(conn)?)
    }

    /// A version's row of `name`, deleted or not.
    pub fn find_any(conn: &mut DbConn, version_id: &str, name: &str) -> Result<Option<CatalogRow>, DbError> {
        Ok(datastore_configuration_parameters::table
            .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
            .filter(datastore_configuration_parameters::name.eq(name))
            .select(CatalogRow::as_select())
            .first(conn)
            .optional()?)
    }

    /// Makes the version's builtin rows `params` (rows an admin wrote stay as they are);
    /// answers how many rows were written.
    pub fn seed(conn: &mut DbConn, version_id: &str, params: &[Parameter]) -> Result<usize, DbError> {
        let admin: Vec<String> = datastore_configuration_parameters::table
            .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
            .filter(datastore_configuration_parameters::source.eq(ADMIN))
            .select(datastore_configuration_parameters::name)
            .load(conn)?;
        let builtin: Vec<CatalogRow> = datastore_configuration_parameters::table
            .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
            .filter(datastore_configuration_parameters::source.eq(BUILTIN))
            .select(CatalogRow::as_select())
            .load(conn)?;
        let mut have: Vec<Parameter> = builtin.iter().map(CatalogRow::parameter).collect();
        have.sort_by(|a, b| a.name.cmp(&b.name));
        // An admin's row stands for its name: the shipped one is not wanted beside it.
        let mut want: Vec<Parameter> = params.iter().filter(|p| !admin.contains(&p.name)).cloned().collect();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        if have == want {
            return Ok(0); // as shipped: nothing to write (most starts)
        }
        diesel::delete(
            datastore_configuration_parameters::table
                .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
                .filter(datastore_configuration_parameters::source.eq(BUILTIN)),
        )
        .execute(conn)?;
        let rows: Vec<CatalogRow> = want.iter().map(|p| CatalogRow::new(version_id, p, BUILTIN)).collect();
        for row in &rows {
            diesel::insert_into(datastore_configuration_parameters::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(rows.len())
    }

    /// An admin's row (Trove's mgmt create and update): replaces whatever row the name had.
    pub fn put_admin(conn: &mut DbConn, version_id: &str, p: &Parameter) -> Result<CatalogRow, DbError> {
        diesel::delete(
            datastore_configuration_parameters::table
                .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
                .filter(datastore_configuration_parameters::name.eq(&p.name)),
        )
        .execute(conn)?;
        let row = CatalogRow::new(version_id, p, ADMIN);
        diesel::insert_into(datastore_configuration_parameters::table)
            .values(&row)
            .execute(conn)?;
        Ok(row)
    }

    /// An admin's delete: the row stays, deleted and the admin's, so seeding does not revive it.
    pub fn delete_admin(conn: &mut DbConn, version_id: &str, name: &str) -> Result<bool, DbError> {
        let n = diesel::update(
            datastore_configuration_parameters::table
                .filter(datastore_configuration_parameters::datastore_version_id.eq(version_id))
                .filter(datastore_configuration_parameters::name.eq(name))
                .filter(datastore_configuration_parameters::deleted.eq(false)),
        )
        .set((
            datastore_configuration_parameters::deleted.eq(true),
            datastore_configuration_parameters::source.eq(ADMIN),
            datastore_configuration_parameters::updated.eq(now_ms()),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// A configuration group.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = configurations)]
pub struct Configuration {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub tenant_id: String,
    pub datastore_version_id: String,
    pub deleted: bool,
    pub deleted_at: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

impl Configuration {
    /// A live group of `tenant` (of any project when `None`, for admins).
    pub fn find(conn: &mut DbConn, tenant: Option<&str>, id: &str) -> Result<Option<Configuration>, DbError> {
        let mut query = configurations::table
            .filter(configurations::id.eq(id))
            .filter(configurations::deleted.eq(false))
            .select(Configuration::as_select())
            .into_boxed();
        if let Some(tenant) = tenant {
            query = query.filter(configurations::tenant_id.eq(tenant.to_string()));
        }
        Ok(query.first(conn).optional()?)
    }

    /// Locks the group's row for the rest of the transaction (attach, change and delete of one
    /// group take turns on PostgreSQL; SQLite's writer lock does it already).
    pub fn lock(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
        diesel::update(configurations::table.find(id))
            .set(configurations::updated.eq(configurations::updated))
            .execute(conn)?;
        Ok(())
    }

    /// One page of `tenant`'s live groups, oldest first; `more` when another page follows.
    pub fn page(
        conn: &mut DbConn,
        tenant: &str,
        limit: i64,
        marker: Option<&str>,
    ) -> Result<(Vec<Configuration>, bool), DbError> {
        let mut query = configurations::table
            .filter(configurations::tenant_id.eq(tenant))
            .filter(configurations::deleted.eq(false))
            .order((configurations::created.asc(), configurations::id.asc()))
            .limit(limit + 1)
            .select(Configuration::as_select())
            .into_boxed();
        if let Some(marker) = marker {
            let created: Option<i64> = configurations::table
                .find(marker)
                .filter(configurations::tenant_id.eq(tenant))
                .select(configurations::created)
                .first(conn)
                .optional()?;
            let created = created.unwrap_or(i64::MAX);
            query = query.filter(
                configurations::created.gt(created).or(configurations::created
                    .eq(created)
                    .and(configurations::id.gt(marker.to_string()))),
            );
        }
        let mut rows: Vec<Configuration> = query.load(conn)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        Ok((rows, more))
    }

    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(configurations::table).values(self).execute(conn)?;
        Ok(())
    }

    /// The group's values, each the JSON it was given as.
    pub fn values(conn: &mut DbConn, id: &str) -> Result<BTreeMap<String, Value>, DbError> {
        let rows: Vec<(String, String)> = configuration_parameters::table
            .filter(configuration_parameters::configuration_id.eq(id))
            .select((
                configuration_parameters::configuration_key,
                configuration_parameters::configuration_value,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v))))
            .collect())
    }

    /// Writes `values` over the group's (all of them replaced when `replace`, else merged).
    pub fn write_values(
        conn: &mut DbConn,
        id: &str,
        values: &BTreeMap<String, Value>,
        replace: bool,
    ) -> Result<(), DbError> {
        let mine = configuration_parameters::table.filter(configuration_parameters::configuration_id.eq(id));
        if replace {
            diesel::delete(mine).execute(conn)?;
        } else {
            let keys: Vec<&String> = values.keys().collect();
            diesel::delete(mine.filter(configuration_parameters::configuration_key.eq_any(keys))).execute(conn)?;
        }
        for (k, v) in values {
            diesel::insert_into(configuration_parameters::table)
                .values((
                    configuration_parameters::configuration_id.eq(id),
                    configuration_parameters::configuration_key.eq(k),
                    configuration_parameters::configuration_value.eq(v.to_string()),
                ))
                .execute(conn)?;
        }
        diesel::update(configurations::table.find(id))
            .set(configurations::updated.eq(now_ms()))
            .execute(conn)?;
        Ok(())
    }

    /// Renames and/or re-describes the group.
    pub fn rename(conn: &mut DbConn, id: &str, name: Option<&str>, description: Option<&str>) -> Result<(), DbError> {
        if let Some(name) = name {
            diesel::update(configurations::table.find(id))
                .set(configurations::name.eq(name))
                .execute(conn)?;
        }
        if let Some(description) = description {
            diesel::update(configurations::table.find(id))
                .set(configurations::description.eq(description))
                .execute(conn)?;
        }
        Ok(())
    }

    pub fn soft_delete(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
        let now = now_ms();
        diesel::update(configurations::table.find(id))
            .set((
                configurations::deleted.eq(true),
                configurations::deleted_at.eq(Some(now)),
                configurations::updated.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The live instances using the group, as (id, name), oldest first.
    pub fn instances(conn: &mut DbConn, id: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(instances::table
            .filter(instances::configuration_id.eq(id))
            .filter(instances::deleted.eq(false))
            .order((instances::created.asc(), instances::id.asc()))
            .select((instances::id, instances::name))
            .load(conn)?)
    }
}
