//! Instances: the view (list, show, create), the create, update and action bodies, and the admin's mgmt
//! actions.

use super::common::{Link, Reference};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// An instance as Trove shows it. A list shows the keys every view has; show and create add `created`, `updated`,
/// `service_status_updated` and `datastore.version_number`; show adds `fault`, `volume.used` and (admins, replication
/// group members) `replication`; an admin also sees `server_id` and `tenant_id`.
#[derive(ToSchema)]
pub struct InstanceView {
    /// The access rules as stored: `{"is_public": bool, "allowed_cidrs": [..]}` by default.
    #[schema(value_type = Object)]
    access: Value,
    /// The instance's address on its network (none before it has one).
    addresses: Vec<InstanceAddress>,
    /// When it was created (`YYYY-MM-DDTHH:MM:SS`, UTC; show and create only).
    created: Option<String>,
    datastore: InstanceDatastore,
    flavor: Reference,
    id: String,
    /// The addresses again (Trove's deprecated `ip`).
    ip: Vec<String>,
    links: Vec<Link>,
    name: String,
    /// The datastore's own status (`HEALTHY`, `RUNNING`, `SHUTDOWN`, …), blank unless idle with its server ACTIVE.
    operating_status: String,
    region: String,
    /// The source this instance replicates (a replica only).
    replica_of: Option<Reference>,
    /// The replicas of this source (absent when it has none).
    replicas: Option<Vec<Reference>>,
    /// The compute server's id, null before it has one (admins only).
    server_id: Option<String>,
    /// When the guest's last heartbeat was applied (show and create; an admin's list too).
    service_status_updated: Option<String>,
    /// `BUILD`, `ACTIVE`, `REBOOT`, `RESIZE`, `UPGRADE`, `REBUILD`, `BACKUP`, `PROMOTE`, `EJECT`, `DETACH`,
    /// `RESTART_REQUIRED`, `SHUTDOWN`, `ERROR` or `UNKNOWN`.
    status: String,
    /// The owning project (admins only).
    tenant_id: Option<String>,
    /// When it last changed (show and create only).
    updated: Option<String>,
    /// Its volume (absent without one).
    volume: Option<InstanceVolume>,
    /// Its configuration group (show and create; absent without one).
    configuration: Option<InstanceConfiguration>,
    /// The latest fault (show only; absent without one).
    fault: Option<InstanceFault>,
    /// What its guest says of its replication (show, admins only, a group member whose guest answered).
    replication: Option<InstanceReplication>,
    /// The root password the create generated (create only, when the datastore enables root on create).
    password: Option<String>,
}

/// One of an instance's addresses.
#[derive(ToSchema)]
pub struct InstanceAddress {
    address: String,
    /// The network's id (null when the instance names none).
    #[schema(required = true)]
    network: Option<String>,
    /// `private`.
    #[serde(rename = "type")]
    kind: String,
}

/// An instance's datastore.
#[derive(ToSchema)]
pub struct InstanceDatastore {
    /// The datastore's name.
    #[serde(rename = "type")]
    kind: String,
    /// The version's name.
    version: String,
    /// The server's full version (show and create only).
    version_number: Option<String>,
}

/// An instance's volume.
#[derive(ToSchema)]
pub struct InstanceVolume {
    /// GiB.
    size: i64,
    /// GB in use, as the guest reports it (show only, of an ACTIVE instance; null when the guest did not say).
    used: Option<f64>,
}

/// The configuration group attached to an instance.
#[derive(ToSchema)]
pub struct InstanceConfiguration {
    id: String,
    name: String,
    links: Vec<Link>,
}

/// An instance's latest fault.
#[derive(ToSchema)]
pub struct InstanceFault {
    message: String,
    /// When it happened (`YYYY-MM-DDTHH:MM:SS`, UTC).
    created: String,
    /// Always null here.
    #[schema(required = true)]
    details: Option<String>,
}

/// A replication group member's state, as its guest reports it (each key null when the guest did not say).
#[derive(ToSchema)]
pub struct InstanceReplication {
    /// `source`, `replica` or `standalone`.
    role: Option<String>,
    /// Whether the server takes writes.
    writable: Option<bool>,
    /// Whether a replica's link to its source is up.
    streaming: Option<bool>,
    /// How far the server has come, in the datastore's words.
    position: Option<String>,
    /// A replica's lag: bytes (PostgreSQL, Redis) or transactions (MariaDB).
    lag_bytes: Option<i64>,
    /// Seconds since the last change a replica applied was made.
    lag_seconds: Option<f64>,
}

/// `{"instance": {...}}`.
#[derive(ToSchema)]
pub struct InstanceBody {
    instance: InstanceView,
}

/// A page of instances.
#[derive(ToSchema)]
pub struct InstanceList {
    instances: Vec<InstanceView>,
    /// The `next` page's link, when there is one.
    links: Option<Vec<Link>>,
}

/// An integer, or a string (of digits, where a number is meant).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum IntegerOrString {
    Number(i64),
    Text(String),
}

/// `POST /instances`.
#[derive(ToSchema)]
pub struct InstanceCreateRequest {
    instance: InstanceCreate,
}

/// What a create may name (Trove's create schema); only `name`, and `flavorRef` unless a replica, are required.
#[derive(ToSchema)]
pub struct InstanceCreate {
    /// 1 to 255 characters, at least one a letter or digit, no control characters.
    #[schema(min_length = 1, max_length = 255, pattern = "[0-9a-zA-Z]")]
    name: String,
    /// The flavor: its id or name, a link to it, or its id as an integer (a replica's default: its source's).
    #[serde(rename = "flavorRef")]
    flavor_ref: Option<IntegerOrString>,
    /// openstacksdk's form of `flavorRef`: the same, or `{"id": ...}`.
    flavor: Option<Value>,
    volume: Option<InstanceVolumeRequest>,
    /// The datastore and its version (the defaults when absent).
    datastore: Option<InstanceDatastoreRequest>,
    /// Databases to create.
    databases: Option<Vec<InitialDatabase>>,
    /// Users to create.
    users: Option<Vec<InitialUser>>,
    access: Option<InstanceAccess>,
    /// At most one network.
    #[schema(max_items = 1)]
    nics: Option<Vec<InstanceNic>>,
    /// Restore a backup into the new instance.
    #[serde(rename = "restorePoint")]
    restore_point: Option<RestorePoint>,
    /// A configuration group's id (or a link to it) to attach.
    configuration: Option<String>,
    /// The same as `configuration`.
    configuration_id: Option<String>,
    /// Make the instance a replica of this instance (by id).
    replica_of: Option<String>,
    /// The same as `replica_of`.
    slave_of: Option<String>,
    /// How many replicas to create, 1 to 3 (more than 1 only with `replica_of`).
    replica_count: Option<IntegerOrString>,
}

/// A volume's size.
#[derive(ToSchema)]
pub struct InstanceVolumeRequest {
    /// GiB, at least 1: an integer or a string of digits.
    size: IntegerOrString,
    /// A volume type (not read).
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// A create's datastore.
#[derive(ToSchema)]
pub struct InstanceDatastoreRequest {
    /// The datastore's name or id.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The version's name or id.
    version: Option<String>,
}

/// A database to create with the instance.
#[derive(ToSchema)]
pub struct InitialDatabase {
    #[schema(min_length = 1)]
    name: String,
    character_set: Option<String>,
    collate: Option<String>,
}

/// A user to create with the instance.
#[derive(ToSchema)]
pub struct InitialUser {
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_length = 1)]
    password: String,
    /// `%` (the default) or an IP address.
    host: Option<String>,
    /// Databases of the create the user is granted.
    databases: Option<Vec<InitialUserDatabase>>,
}

/// A database a user is granted, by name.
#[derive(ToSchema)]
pub struct InitialUserDatabase {
    #[schema(min_length = 1)]
    name: String,
}

/// Who may connect: the whole internet or only some IPv4 networks.
#[derive(ToSchema)]
pub struct InstanceAccess {
    is_public: Option<bool>,
    /// IPv4 addresses or CIDRs (`a.b.c.d[/nn]`).
    allowed_cidrs: Option<Vec<String>>,
}

/// A network the instance is attached to.
#[derive(ToSchema)]
pub struct InstanceNic {
    /// The network's id.
    #[serde(rename = "net-id")]
    net_id: Option<String>,
    /// The same as `net-id`.
    network_id: Option<String>,
}

/// The backup a create restores.
#[derive(ToSchema)]
pub struct RestorePoint {
    /// The backup's id.
    #[serde(rename = "backupRef")]
    backup_ref: String,
}

/// `PUT` or `PATCH /instances/{id}`.
#[derive(ToSchema)]
pub struct InstanceUpdateRequest {
    instance: InstanceUpdate,
}

/// `name`, and at most one of the other keys. A `PUT` of `{}` detaches the configuration group.
#[derive(ToSchema)]
pub struct InstanceUpdate {
    /// A new name (as a create's).
    #[schema(nullable = false, min_length = 1, max_length = 255, pattern = "[0-9a-zA-Z]")]
    name: Option<String>,
    #[schema(schema_with = detach_only)]
    replica_of: Option<Value>,
    #[schema(schema_with = detach_only)]
    slave_of: Option<Value>,
    /// A configuration group's id (or a link to it) to attach; null or blank detaches.
    configuration: Option<String>,
    /// A datastore version's name or id to upgrade to.
    #[schema(nullable = false, min_length = 1)]
    datastore_version: Option<String>,
    /// New access rules (only these two keys).
    #[schema(nullable = false)]
    access: Option<InstanceAccess>,
}

/// `replica_of`/`slave_of` of an update: only null.
fn detach_only() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some(
            "Only null: the key's presence detaches the replica from its source.",
        ))
        .into()
}

/// `POST /instances/{id}/action`: exactly one of these keys.
#[derive(ToSchema)]
#[schema(min_properties = 1, max_properties = 1)]
pub struct InstanceActionRequest {
    /// `{}`: restart the datastore.
    #[schema(value_type = Option<Object>)]
    restart: Option<Value>,
    /// A new flavor or a larger volume.
    #[schema(nullable = false)]
    resize: Option<ResizeRequest>,
    /// `{}`: clear the task and the service status (admins only).
    #[schema(value_type = Option<Object>)]
    reset_status: Option<Value>,
    /// `{}`: make this replica its group's source (a switchover).
    #[schema(value_type = Option<Object>)]
    promote_to_replica_source: Option<Value>,
    /// `{}`: make a replica the source of a group whose source stopped (a failover).
    #[schema(value_type = Option<Object>)]
    eject_replica_source: Option<Value>,
}

/// Exactly one of `flavorRef` and `volume`.
#[derive(ToSchema)]
#[schema(min_properties = 1, max_properties = 1)]
pub struct ResizeRequest {
    /// The new flavor: its id or name, a link to it, or its id as an integer.
    #[serde(rename = "flavorRef")]
    #[schema(nullable = false)]
    flavor_ref: Option<IntegerOrString>,
    /// The new volume size, larger than the current one.
    #[schema(nullable = false)]
    volume: Option<InstanceVolumeRequest>,
}

/// `POST /mgmt/instances/{id}/action`: exactly one of these keys (Trove's `stop`, `reboot` and `migrate` answer 501).
#[derive(ToSchema)]
#[schema(min_properties = 1, max_properties = 1)]
pub struct MgmtInstanceActionRequest {
    /// `{}`: clear the instance's task.
    #[serde(rename = "reset-task-status")]
    #[schema(value_type = Option<Object>)]
    reset_task_status: Option<Value>,
    /// Rebuild the server from an image, keeping its volume.
    #[schema(nullable = false)]
    rebuild: Option<RebuildRequest>,
}

/// A rebuild's image.
#[derive(ToSchema)]
pub struct RebuildRequest {
    /// The image's id, a UUID.
    #[schema(pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    image_id: String,
}
