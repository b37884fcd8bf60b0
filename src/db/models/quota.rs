//! Quotas: per-project limits (`quotas`, falling back to the configured defaults) and usage
//! (`quota_usages`). Usage moves only through conditional updates whose affected-row count
//! decides, inside the transaction that creates or removes what is counted — so concurrent
//! requests can never overrun a limit, and usage cannot drift from the rows it counts.

use crate::db::cached::{Bind, Cached, StatementText};
use crate::db::schema::{quota_usages, quotas};
use crate::db::{on_backend, DbConn, DbError};
use diesel::prelude::*;

/// Trove's quota resources, in Trove's order.
pub const RESOURCES: [&str; 4] = ["instances", "ram", "volumes", "backups"];

/// The configured default limits (Trove's max_*_per_tenant).
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub instances: i32,
    pub ram: i32,
    pub volumes: i32,
    pub backups: i32,
}

impl From<&crate::config::QuotaConfig> for Defaults {
    fn from(cfg: &crate::config::QuotaConfig) -> Defaults {
        Defaults {
            instances: cfg.instances,
            ram: cfg.ram,
            volumes: cfg.volumes,
            backups: cfg.backups,
        }
    }
}

impl Defaults {
    fn of(&self, resource: &str) -> i32 {
        match resource {
            "instances" => self.instances,
            "ram" => self.ram,
            "volumes" => self.volumes,
            _ => self.backups,
        }
    }
}

/// A project's limit for `resource` (-1: unlimited).
pub fn limit(conn: &mut DbConn, defaults: &Defaults, tenant: &str, resource: &str) -> Result<i32, DbError> {
    let set: Option<i32> = quotas::table
        .find((tenant, resource))
        .select(quotas::hard_limit)
        .first(conn)
        .optional()?;
    Ok(set.unwrap_or_else(|| defaults.of(resource)))
}

pub fn set_limit(conn: &mut DbConn, tenant: &str, resource: &str, hard_limit: i32) -> Result<(), DbError> {
    let n = diesel::update(quotas::table.find((tenant, resource)))
        .set(quotas::hard_limit.eq(hard_limit))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(quotas::table)
            .values((
                quotas::tenant_id.eq(tenant),
                quotas::resource.eq(resource),
                quotas::hard_limit.eq(hard_limit),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn in_use(conn: &mut DbConn, tenant: &str, resource: &str) -> Result<i32, DbError> {
    Ok(quota_usages::table
        .find((tenant, resource))
        .select(quota_usages::in_use)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Creates the usage row if it is missing; concurrent creators cannot collide (ON CONFLICT DO
/// NOTHING, which diesel offers per backend, not through the multi-backend connection).
fn ensure_usage_row(conn: &mut DbConn, tenant: &str, resource: &str) -> Result<(), DbError> {
    let row = (
        quota_usages::tenant_id.eq(tenant),
        quota_usages::resource.eq(resource),
        quota_usages::in_use.eq(0),
    );
    match conn {
        DbConn::Sqlite(c) => diesel::insert_into(quota_usages::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Pg(c) => diesel::insert_into(quota_usages::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}

/// Adds `deltas` to the project's usage if every limit allows it; else changes nothing (the
/// caller's transaction rolls back) and returns the resources over their limits. The limits
/// are one read; a usage row is made only when the project has none yet for the resource.
pub fn consume(
    conn: &mut DbConn,
    defaults: &Defaults,
    tenant: &str,
    deltas: &[(&str, i32)],
) -> Result<Vec<String>, DbError> {
    let wanted: Vec<(&str, i32)> = deltas.iter().filter(|(_, d)| *d > 0).copied().collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // All the tenant's own limits (a handful of rows): one statement prepared once.
    let own = quotas::table.filter(quotas::tenant_id.eq(tenant));
    let set: Vec<(String, i32)> = on_backend!(conn, |c| own.select((quotas::resource, quotas::hard_limit)).load(c))?;
    let mut over = Vec::new();
    for (resource, delta) in wanted {
        let limit = set
            .iter()
            .find(|(r, _)| r == resource)
            .map_or_else(|| defaults.of(resource), |(_, l)| *l);
        let mut added = add_within(conn, tenant, resource, delta, limit)?;
        if !added && !usage_row_exists(conn, tenant, resource)? {
            ensure_usage_row(conn, tenant, resource)?;
            added = add_within(conn, tenant, resource, delta, limit)?;
        }
        if !added {
            over.push(resource.to_string());
        }
    }
    over.sort();
    Ok(over)
}

/// Adds `delta` to the usage row if `limit` (-1: none) allows it; false when it does not, or
/// when the row is missing.
fn add_within(conn: &mut DbConn, tenant: &str, resource: &str, delta: i32, limit: i32) -> Result<bool, DbError> {
    struct AddWithin;
    impl StatementText for AddWithin {
        const SQL: &'static str = "UPDATE quota_usages SET in_use = in_use + ? \
            WHERE tenant_id = ? AND resource = ? AND (? < 0 OR in_use <= ?)";
    }
    let binds = [
        Bind::Integer(delta),
        Bind::Text(tenant),
        Bind::Text(resource),
        Bind::Integer(limit),
        Bind::Integer(limit.saturating_sub(delta)),
    ];
    let n = on_backend!(conn, |c| Cached::<AddWithin>::new(&binds).execute(c))?;
    Ok(n > 0)
}

fn usage_row_exists(conn: &mut DbConn, tenant: &str, resource: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(quota_usages::table.find((tenant, resource)))).get_result(conn)?)
}

/// Gives `deltas` back (never below zero).
pub fn release(conn: &mut DbConn, tenant: &str, deltas: &[(&str, i32)]) -> Result<(), DbError> {
    for (resource, delta) in deltas.iter().filter(|(_, d)| *d > 0) {
        let target = quota_usages::table.find((tenant, *resource));
        let n = diesel::update(target.filter(quota_usages::in_use.ge(delta)))
            .set(quota_usages::in_use.eq(quota_usages::in_use - delta))
            .execute(conn)?;
        if n == 0 {
            diesel::update(quota_usages::table.find((tenant, *resource)))
                .set(quota_usages::in_use.eq(0))
                .execute(conn)?;
        }
    }
    Ok(())
}
