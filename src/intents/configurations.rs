//! Configuration groups as the API asks for them: create, change, delete, attach and detach.
//! Each is one transaction; attaching, detaching and changing a group record a configure flow
//! for each instance concerned, which brings its server to the group's values (nothing is
//! pushed to a guest from the API).

use super::resolve_datastore;
use crate::db::models::catalog::{Datastore, DatastoreVersion, Flavor};
use crate::db::models::configuration::{CatalogRow, Configuration};
use crate::db::models::flow::Flow;
use crate::db::models::instance::Instance;
use crate::db::{write_tx, DbConn};
use crate::error::ApiError;
use crate::flows::state::ConfigureState;
use crate::flows::FlowKind;
use crate::manager::Manager;
use crate::parameters::{self, Parameter};
use crate::status::Task;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A group to create, as the schema passed it.
#[derive(Debug, Clone)]
pub struct NewConfiguration {
    pub name: String,
    pub description: Option<String>,
    pub datastore: Option<String>,
    pub version: Option<String>,
    pub values: Map<String, Value>,
}

/// A change of a group: PUT replaces its values, PATCH merges them.
#[derive(Debug, Clone)]
pub struct ConfigurationChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub values: Map<String, Value>,
    pub replace: bool,
}

/// A group with what its views show.
#[derive(Debug, Clone)]
pub struct ConfigurationRecord {
    pub group: Configuration,
    pub datastore: Datastore,
    pub version: DatastoreVersion,
    pub values: BTreeMap<String, Value>,
    pub instance_count: usize,
}

impl ConfigurationRecord {
    pub fn load(conn: &mut DbConn, group: Configuration) -> Result<ConfigurationRecord, ApiError> {
        let version = DatastoreVersion::find(conn, &group.datastore_version_id)?
            .ok_or_else(|| ApiError::Internal(format!("the version of group {} is gone", group.id)))?;
        let datastore = Datastore::find_by_id_or_name(conn, &version.datastore_id)?
            .ok_or_else(|| ApiError::Internal(format!("the datastore of group {} is gone", group.id)))?;
        let values = Configuration::values(conn, &group.id)?;
        let instance_count = Configuration::instances(conn, &group.id)?.len();
        Ok(ConfigurationRecord {
            group,
            datastore,
            version,
            values,
            instance_count,
        })
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Configuration group with ID {id} could not be found."))
}

/// The catalog of a version, as parameters.
pub fn catalog(conn: &mut DbConn, version_id: &str) -> Result<Vec<Parameter>, ApiError> {
    Ok(CatalogRow::for_version(conn, version_id)?
        .iter()
        .map(CatalogRow::parameter)
        .collect())
}

/// Checks `values` against the catalog of `version`.
fn checked(
    conn: &mut DbConn,
    version: &DatastoreVersion,
    datastore: &str,
    values: &Map<String, Value>,
) -> Result<BTreeMap<String, Value>, ApiError> {
    let manager = Manager::parse(&version.manager).unwrap_or(Manager::Simulated);
    let label = format!("{datastore} {}", version.name);
    Ok(parameters::validate(
        manager,
        &label,
        &catalog(conn, &version.id)?,
        values,
    )?)
}

/// Checks `values` (a group's, for `version`) against the memory the flavor `flavor_id` pays for.
pub fn fits_flavor(
    conn: &mut DbConn,
    version: &DatastoreVersion,
    values: &BTreeMap<String, Value>,
    flavor_id: &str,
) -> Result<(), ApiError> {
    let Some(flavor) = Flavor::find(conn, flavor_id)? else {
        return Ok(());
    };
    let manager = Manager::parse(&version.manager).unwrap_or(Manager::Simulated);
    let catalog = catalog(conn, &version.id)?;
    Ok(parameters::check_memory(
        manager,
        &catalog,
        values,
        i64::from(flavor.ram),
        &flavor.name,
    )?)
}

/// Checks the group `group_id`'s values against the flavor `flavor_id` (none: nothing to check).
pub fn group_fits_flavor(conn: &mut DbConn, group_id: Option<&str>, flavor_id: &str) -> Result<(), ApiError> {
    let Some(group) = group_id
        .map(|g| Configuration::find(conn, None, g))
        .transpose()?
        .flatten()
    else {
        return Ok(());
    };
    let Some(version) = DatastoreVersion::find(conn, &group.datastore_version_id)? else {
        return Ok(());
    };
    let values = Configuration::values(conn, &group.id)?;
    fits_flavor(conn, &version, &values, flavor_id)
}

pub fn create_configuration(
    conn: &mut DbConn,
    tenant: &str,
    req: &NewConfiguration,
) -> Result<ConfigurationRecord, ApiError> {
    write_tx(conn, |conn| {
        let (datastore, version) = resolve_datastore(conn, req.datastore.as_deref(), req.version.as_deref())?;
        let values = checked(conn, &version, &datastore.name, &req.values)?;
        let now = crate::db::unique_now_ms();
        let group = Configuration {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.clone(),
            description: req.description.clone(),
            tenant_id: tenant.to_string(),
            datastore_version_id: version.id.clone(),
            deleted: false,
            deleted_at: None,
            created: now,
            updated: now,
        };
        group.insert(conn)?;
        Configuration::write_values(conn, &group.id, &values, true)?;
        ConfigurationRecord::load(conn, group)
    })
}

/// Records a configure flow for the instance (its server is brought to its group's values).
fn record_configure(conn: &mut DbConn, instance_id: &str, deadline_ms: i64) -> Result<Flow, ApiError> {
    let flow = Flow::new(
        FlowKind::Configure,
        instance_id,
        &ConfigureState::default(),
        deadline_ms,
    );
    flow.insert(conn)?;
    Ok(flow)
}

/// PUT or PATCH of a group: its values checked and written, a configure flow for every
/// instance using it.
pub fn change_configuration(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    change: &ConfigurationChange,
    deadline_ms: i64,
) -> Result<Vec<Flow>, ApiError> {
    write_tx(conn, |conn| {
        Configuration::lock(conn, id)?;
        let group = Configuration::find(conn, Some(tenant), id)?.ok_or_else(|| not_found(id))?;
        let record = ConfigurationRecord::load(conn, group)?;
        let values = checked(conn, &record.version, &record.datastore.name, &change.values)?;
        let mut after = if change.replace {
            BTreeMap::new()
        } else {
            record.values.clone()
        };
        after.extend(values.clone());
        let mut using = Vec::new();
        for (instance_id, _) in Configuration::instances(conn, id)? {
            Instance::lock(conn, &instance_id)?;
            let Some(inst) = Instance::find(conn, &instance_id)? else {
                continue;
            };
            match inst.task() {
                // Its flavor is changing: the group's memory could not be checked against it.
                Some(Task::Resizing) => {
                    return Err(ApiError::Unprocessable(format!(
                        "Instance {instance_id} is resizing; change its configuration group when it has ended."
                    )))
                }
                Some(Task::Deleting) => continue,
                _ => {}
            }
            fits_flavor(conn, &record.version, &after, &inst.flavor_id)?;
            using.push(instance_id);
        }
        Configuration::write_values(conn, id, &values, change.replace)?;
        Configuration::rename(conn, id, change.name.as_deref(), change.description.as_deref())?;
        let mut flows = Vec::new();
        for instance_id in using {
            flows.push(record_configure(conn, &instance_id, deadline_ms)?);
        }
        Ok(flows)
    })
}

pub fn delete_configuration(conn: &mut DbConn, tenant: &str, id: &str) -> Result<(), ApiError> {
    write_tx(conn, |conn| {
        Configuration::lock(conn, id)?;
        Configuration::find(conn, Some(tenant), id)?.ok_or_else(|| not_found(id))?;
        if !Configuration::instances(conn, id)?.is_empty() {
            return Err(ApiError::Unprocessable(
                "A configuration group cannot be deleted if it is associated with one or more non-terminated \
                 instances. Detach the configuration group from all non-terminated instances and please try again."
                    .into(),
            ));
        }
        Configuration::soft_delete(conn, id)?;
        Ok(())
    })
}

/// The group `group_id` of `tenant`, checked to suit `instance` (same datastore version).
pub fn group_for(conn: &mut DbConn, tenant: &str, group_id: &str, version_id: &str) -> Result<(), ApiError> {
    Configuration::lock(conn, group_id)?;
    let group = Configuration::find(conn, Some(tenant), group_id)?
        .ok_or_else(|| ApiError::NotFound(format!("Configuration group id: {group_id} could not be found.")))?;
    if group.datastore_version_id != version_id {
        return Err(ApiError::BadRequest(format!(
            "Datastore Version on Configuration {} does not match the Datastore Version on the instance {version_id}.",
            group.datastore_version_id
        )));
    }
    Ok(())
}

/// Attaches `group_id` to the instance (`PUT /instances/{id}` with `configuration`): the link
/// written and a configure flow recorded. The instance must be able to take an action.
pub fn attach_configuration(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    group_id: &str,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Flow, ApiError> {
    write_tx(conn, |conn| {
        let record = super::ready_for_action(conn, tenant, id, expiry_ms)?;
        if let Some(current) = &record.instance.configuration_id {
            return Err(ApiError::BadRequest(format!(
                "Instance {id} already has a Configuration Group attached: {current}."
            )));
        }
        group_for(conn, tenant, group_id, &record.instance.datastore_version_id)?;
        group_fits_flavor(conn, Some(group_id), &record.instance.flavor_id)?;
        Instance::set_configuration(conn, id, Some(group_id))?;
        record_configure(conn, id, deadline_ms)
    })
}

/// Detaches the instance's group (`PUT /instances/{id}` without `configuration`): its server
/// returns to its defaults. `None` when it had no group (nothing to do).
pub fn detach_configuration(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    expiry_ms: i64,
    deadline_ms: i64,
) -> Result<Option<Flow>, ApiError> {
    write_tx(conn, |conn| {
        Instance::lock(conn, id)?;
        let attached = Instance::find(conn, id)?.and_then(|i| i.configuration_id);
        if attached.is_none() {
            return Ok(None);
        }
        super::ready_for_action(conn, tenant, id, expiry_ms)?;
        Instance::set_configuration(conn, id, None)?;
        record_configure(conn, id, deadline_ms).map(Some)
    })
}
