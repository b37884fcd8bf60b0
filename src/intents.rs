//! What the API writes, in one transaction, before it casts to the task manager: the intent of
//! each long operation as rows (instance, service status, flow). A lost cast then delays the
//! work but never loses it, and a refused request changes nothing.

use crate::db::models::catalog::{Datastore, DatastoreVersion, Flavor};
use crate::db::models::flow::Flow;
use crate::db::models::instance::{Instance, InstanceRecord};
use crate::db::models::quota;
use crate::db::models::service_status::ServiceStatusRow;
use crate::db::{unique_now_ms, write_tx, DbConn};
use crate::error::ApiError;
use crate::flows;
use crate::flows::state::{CreateState, NoState, SealedUser};
use crate::guest::rules;
use crate::secrets::MasterKey;
use crate::status::{ServiceStatus, Task};
use diesel::RunQueryDsl;
pub use requests::CreateInstance;

pub mod actions;
pub mod backups;
pub mod configurations;
pub mod replication;
pub mod requests;
pub mod updates;

pub use actions::{reset_status, reset_task_status, resize_instance, restart_instance, Resize};

/// Trove's `max_accepted_volume_size` (GB).
pub const MAX_VOLUME_GB: i32 = 10;
/// The datastore used when a create names none (Trove's `default_datastore`).
pub const DEFAULT_DATASTORE: &str = crate::manager::Manager::Simulated.as_str();

/// Resolves the datastore version a create asks for.
fn resolve_version(conn: &mut DbConn, req: &CreateInstance) -> Result<(Datastore, DatastoreVersion), ApiError> {
    let (ds, version) = resolve_datastore(conn, req.datastore_type.as_deref(), req.datastore_version.as_deref())?;
    if !version.active {
        return Err(ApiError::BadRequest(format!(
            "Datastore version '{}' is not active.",
            version.name
        )));
    }
    Ok((ds, version))
}

/// The datastore (by id or name; the default one when not given) and its version (by id or
/// name; the datastore's default when not given), active or not.
pub(crate) fn resolve_datastore(
    conn: &mut DbConn,
    datastore: Option<&str>,
    version: Option<&str>,
) -> Result<(Datastore, DatastoreVersion), ApiError> {
    let ds_key = datastore.unwrap_or(DEFAULT_DATASTORE);
    let ds = Datastore::find_by_id_or_name(conn, ds_key)?
        .ok_or_else(|| ApiError::NotFound(format!("Datastore '{ds_key}' cannot be found.")))?;
    let version = match version {
        Some(v) => DatastoreVersion::find_in(conn, &ds.id, v)?
            .ok_or_else(|| ApiError::NotFound(format!("Datastore version '{v}' cannot be found.")))?,
        None => {
            let default = ds.default_version_id.clone().unwrap_or_default();
            DatastoreVersion::find(conn, &default)?
                .ok_or_else(|| ApiError::NotFound(format!("Default version for datastore '{ds_key}' not found.")))?
        }
    };
    Ok((ds, version))
}

/// 413 naming the resources over their limits, as Trove's QuotaExceeded.
pub(crate) fn over_quota(over: Vec<String>) -> Result<(), ApiError> {
    if over.is_empty() {
        return Ok(());
    }
    Err(ApiError::OverLimit(format!("Quota exceeded for resources: {over:?}.")))
}

/// Trove's checks of initial databases and users against the datastore's rules.
fn check_accounts(manager: &str, req: &CreateInstance) -> Result<(), ApiError> {
    if req.databases.is_empty() && req.users.is_empty() {
        return Ok(());
    }
    let rules = rules::for_manager(manager)
        .ok_or_else(|| ApiError::Unprocessable(format!("Datastore {manager} does not support users or databases.")))?;
    for db in &req.databases {
        rules.check_database_spec(db)?;
    }
    for user in &req.users {
        rules.check_user(&user.name)?;
        if let Some(missing) = user
            .databases
            .iter()
            .find(|d| !req.databases.iter().any(|db| &db.name == *d))
        {
            return Err(ApiError::BadRequest(format!(
                "User {} is given database {missing}, which is not among the instance's databases.",
                user.name
            )));
        }
    }
    Ok(())
}

/// An instance a create recorded: its view's record, its create flow, and the password shown
/// once (datastores without users).
pub struct Created {
    pub record: InstanceRecord,
    pub flow: Flow,
    pub password: Option<String>,
}

/// Records a create: instance (BUILDING), service status (NEW), stale-check row, create flow;
/// for a replica create, one of each per replica (`replica_count`, named `-1`, `-2`, …).
pub fn create_instance(
    conn: &mut DbConn,
    tenant: &str,
    req: &CreateInstance,
    usage_timeout_ms: i64,
    secrets: &MasterKey,
    limits: &quota::Defaults,
    expiry_ms: i64,
) -> Result<Vec<Created>, ApiError> {
    write_tx(conn, |conn| {
        let source = match &req.replica_of {
            Some(id) => Some(replication::check_replica(conn, tenant, id, req, expiry_ms)?),
            None => None,
        };
        let count = req.replica_count.unwrap_or(1);
        let mut created = Vec::new();
        for n in 1..=count {
            let name = match count {
                1 => req.name.clone(),
                _ => format!("{}-{n}", req.name),
            };
            let ctx = NewInstance {
                tenant,
                name,
                source: source.as_ref(),
                usage_timeout_ms,
                secrets,
                limits,
            };
            created.push(create_one(conn, req, ctx)?);
        }
        Ok(created)
    })
}

/// What one instance of a create is made with besides the request.
struct NewInstance<'a> {
    tenant: &'a str,
    name: String,
    source: Option<&'a InstanceRecord>,
    usage_timeout_ms: i64,
    secrets: &'a MasterKey,
    limits: &'a quota::Defaults,
}

fn create_one(conn: &mut DbConn, req: &CreateInstance, ctx: NewInstance<'_>) -> Result<Created, ApiError> {
    let NewInstance {
        tenant,
        name,
        source,
        usage_timeout_ms,
        secrets,
        limits,
    } = ctx;
    let flavor = match source {
        Some(s) => replication::replica_flavor(conn, req, &s.instance)?,
        None => Flavor::find_by_id_or_name(conn, &req.flavor_id)?
            .ok_or_else(|| ApiError::NotFound(format!("Flavor {} could not be found.", req.flavor_id)))?,
    };
    let volume_size = req.volume_size.or(source.and_then(|s| s.instance.volume_size));
    if let Some(size) = volume_size.filter(|s| *s > MAX_VOLUME_GB) {
        return Err(ApiError::OverLimit(format!(
            "Volume size {size} cannot exceed maximum of {MAX_VOLUME_GB} GB."
        )));
    }
    let restore = match &req.restore_backup_id {
        Some(id) => Some(backups::restore_plan(conn, tenant, id, volume_size)?),
        None => None,
    };
    let (datastore, version) = match (&restore, source) {
        (_, Some(s)) => ((*s.datastore).clone(), (*s.version).clone()),
        (Some(plan), None) if req.datastore_type.is_none() => plan.version(conn)?,
        _ => resolve_version(conn, req)?,
    };
    if let Some(plan) = &restore {
        plan.check_datastore(&version)?;
    }
    check_accounts(&version.manager, req)?;
    if let Some(group) = &req.configuration_id {
        configurations::group_for(conn, tenant, group, &version.id)?;
        configurations::group_fits_flavor(conn, Some(group), &flavor.id)?;
    }
    let deltas = [
        ("instances", 1),
        ("ram", flavor.ram),
        ("volumes", volume_size.unwrap_or(0)),
    ];
    over_quota(quota::consume(conn, limits, tenant, &deltas)?)?;
    let cidrs = req
        .access
        .as_ref()
        .and_then(|a| a.get("allowed_cidrs"))
        .and_then(|c| c.as_array());
    let cidrs: Vec<String> = cidrs
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    updates::access_enforceable(&version.manager, &cidrs)?;
    let replication_secret = match source {
        Some(s) => Some(replication::group_secret(conn, &s.instance, secrets)?),
        None => None,
    };
    let now = unique_now_ms();
    let instance = Instance {
        id: uuid::Uuid::new_v4().to_string(),
        created: now,
        updated: now,
        name,
        tenant_id: tenant.to_string(),
        flavor_id: flavor.id.clone(),
        volume_size,
        datastore_version_id: version.id.clone(),
        task_id: Task::Building.code(),
        task_description: Task::Building.description().to_string(),
        task_start_time: Some(now),
        server_status: None,
        compute_instance_id: None,
        address: None,
        access: req.access.as_ref().map(|a| a.to_string()),
        deleted: false,
        deleted_at: None,
        network_id: req.network_id.clone(),
        server_version: None,
        image_id: None,
        configuration_id: req.configuration_id.clone(),
        restart_pending: false,
        slave_of_id: source.map(|s| s.instance.id.clone()),
        replication_secret,
    };
    let service = ServiceStatusRow::new(&instance.id, ServiceStatus::New);
    crate::db::on_backend!(conn, |c| {
        diesel::insert_into(crate::db::schema::instances::table)
            .values(&instance)
            .execute(c)?;
        diesel::insert_into(crate::db::schema::service_statuses::table)
            .values(&service)
            .execute(c)
    })?;
    let users = req
        .users
        .iter()
        .map(|u| SealedUser {
            name: u.name.clone(),
            host: u.host.clone(),
            databases: u.databases.clone(),
            password_sealed: secrets.seal_secret(&u.password),
        })
        .collect();
    // Datastores without users (Redis) get a password at create, shown once in the answer
    // (Trove's root_on_create).
    // A replica shares its source's (the group's) password.
    let password = (rules::for_manager(&version.manager).is_none() && source.is_none())
        .then(|| crate::secrets::random_password(24));
    let state = CreateState {
        volume_size,
        databases: req.databases.clone(),
        users,
        allowed_cidrs: cidrs,
        root_password_sealed: password.as_deref().map(|p| secrets.seal_secret(p)),
        restore: restore.as_ref().map(|plan| plan.pieces.clone()).unwrap_or_default(),
        memory_mb: Some(i64::from(flavor.ram)),
        manager: Some(version.manager.clone()),
        replica_of: source.map(|s| s.instance.id.clone()),
        without_configuration: instance.configuration_id.is_none(),
    };
    let flow = Flow::new(flows::FlowKind::Create, &instance.id, &state, usage_timeout_ms);
    flow.insert(conn)?;
    let record = InstanceRecord::from((instance, service, version, datastore));
    Ok(Created { record, flow, password })
}

/// Records a delete: task DELETING, the create and restart flows cancelled, a delete flow.
/// A second delete of an instance already being deleted records nothing new.
pub fn delete_instance(conn: &mut DbConn, tenant: &str, id: &str, deadline_ms: i64) -> Result<Option<Flow>, ApiError> {
    write_tx(conn, |conn| {
        // Taken first: concurrent deletes and actions see what this one decides.
        Instance::lock(conn, id)?;
        let record = Instance::find_record(conn, tenant, id)?
            .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
        if record.instance.task() == Some(Task::Deleting) {
            return Ok(None);
        }
        replication::check_deletable(&record)?;
        if record.backup_running {
            return Err(ApiError::Unprocessable(format!(
                "Instance {id} is running a backup; delete it when the backup has ended."
            )));
        }
        Instance::set_task(conn, id, Task::Deleting)?;
        // As Trove: its group is free to be deleted from now on.
        Instance::set_configuration(conn, id, None)?;
        cancel_flows(conn, tenant, id)?;
        let flow = Flow::new(flows::FlowKind::Delete, id, &NoState {}, deadline_ms);
        flow.insert(conn)?;
        Ok(Some(flow))
    })
}

/// 422 for an action that lost the race to another one.
pub(crate) fn busy(id: &str) -> ApiError {
    ApiError::Unprocessable(format!(
        "Instance {id} is not currently available for an action to be performed (another action has begun)."
    ))
}

/// Cancels the instance's running flows but a delete, giving back the quota each held (a
/// resize's growth not yet recorded on the instance).
pub(crate) fn cancel_flows(conn: &mut DbConn, tenant: &str, id: &str) -> Result<(), crate::db::DbError> {
    for flow in Flow::cancel_all_but(conn, id, flows::FlowKind::Delete.name())? {
        quota::release(conn, tenant, &flows::held_quota(&flow))?;
    }
    Ok(())
}

/// Trove's `validate_can_perform_action`: the instance exists, is the caller's, has no task,
/// its server is ACTIVE and its datastore in a state that allows actions.
pub(crate) fn ready_for_action(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    expiry_ms: i64,
) -> Result<InstanceRecord, ApiError> {
    // Taken first, so concurrent actions, deletes and backups of one instance serialize.
    Instance::lock(conn, id)?;
    let record = Instance::find_record(conn, tenant, id)?
        .ok_or_else(|| ApiError::NotFound(format!("Instance {id} could not be found.")))?;
    check_ready(id, &record, expiry_ms)?;
    Ok(record)
}

/// The readiness rule ([`StatusInputs::allows_actions`]) as Trove answers it: 422 naming the
/// status that stands in the way.
pub fn check_ready(id: &str, record: &InstanceRecord, expiry_ms: i64) -> Result<(), ApiError> {
    let status = record.status_inputs(expiry_ms);
    if status.allows_actions() {
        return Ok(());
    }
    let (kind, shown) = status.blocking_status();
    Err(ApiError::Unprocessable(format!(
        "Instance {id} is not currently available for an action to be performed ({kind} status was {shown})."
    )))
}
