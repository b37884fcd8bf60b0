//! The instance view (Trove's `InstanceView` / `InstanceDetailView`): what list, show and create
//! return, with `status` and `operating_status` derived by Trove's rules; and the pieces other
//! typed views share ([`LinkPair`], [`Keyed`] for a body of one key).

use super::links;
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::{HeartbeatColumns, InstanceRecord, ListedRecord};
use crate::status::StatusInputs;
use serde::Serialize;
use serde_json::{json, Value};

/// A timestamp as Trove shows it (UTC, seconds).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A time as `/mgmt` and the event stream show it (RFC 3339, milliseconds, UTC).
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A body of one key, `{key: value}`, serialized straight from `value` (no `Value` between).
pub struct Keyed<T>(pub &'static str, pub T);

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// Trove's `links` pair of one resource (self, bookmark), written straight into the body (no
/// string built per link); [`links::resource`] is its map form.
pub struct LinkPair<'a> {
    base: &'a str,
    tenant: &'a str,
    collection: &'a str,
    id: &'a str,
}

/// One of a pair's `href`s, formatted as it is serialized.
struct Href<'a> {
    pair: &'a LinkPair<'a>,
    bookmark: bool,
}

impl std::fmt::Display for Href<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let LinkPair {
            base,
            tenant,
            collection,
            id,
        } = self.pair;
        match self.bookmark {
            true => write!(f, "{base}/{collection}/{id}"),
            false => write!(f, "{base}/v1.0/{tenant}/{collection}/{id}"),
        }
    }
}

impl Serialize for Href<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Serialize)]
struct Link<'a> {
    href: Href<'a>,
    rel: &'static str,
}

impl Serialize for LinkPair<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let link = |bookmark, rel| Link {
            href: Href { pair: self, bookmark },
            rel,
        };
        [link(false, "self"), link(true, "bookmark")].serialize(serializer)
    }
}

impl<'a> LinkPair<'a> {
    /// The pair as a [`Value`] (for views still built as maps). Its fields are strings, so
    /// serializing cannot fail and `Null` is never the answer.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn of(base: &'a str, tenant: &'a str, collection: &'a str, id: &'a str) -> LinkPair<'a> {
        LinkPair {
            base,
            tenant,
            collection,
            id,
        }
    }
}

#[derive(Serialize)]
pub struct Reference<'a> {
    id: &'a str,
    links: LinkPair<'a>,
}

#[derive(Serialize)]
pub struct Address<'a> {
    address: &'a str,
    network: &'a Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
pub struct DatastoreRef<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_number: Option<&'a str>,
}

#[derive(Serialize)]
pub struct VolumeSize {
    size: i32,
}

/// An instance as Trove shows it, serialized straight from the record (keys in the order the
/// map-built view had them). Show and create turn it into a [`Value`] to add to it; a list
/// serializes it as it is.
#[derive(Serialize)]
pub struct InstanceView<'a> {
    access: Value,
    addresses: Vec<Address<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    datastore: DatastoreRef<'a>,
    flavor: Reference<'a>,
    id: &'a str,
    ip: Vec<&'a str>,
    links: LinkPair<'a>,
    name: &'a str,
    operating_status: &'static str,
    region: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica_of: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replicas: Vec<Reference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_id: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_status_updated: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<VolumeSize>,
}

/// What an instance view shows, borrowed from a whole record (show, create) or a listed one.
pub struct ViewSource<'a> {
    id: &'a str,
    tenant_id: &'a str,
    name: &'a str,
    flavor_id: &'a str,
    volume_size: Option<i32>,
    access: Option<&'a str>,
    address: Option<&'a str>,
    /// As the address's `network` and the admin's `server_id` show them (null when unset).
    network_id: &'a Option<String>,
    slave_of_id: Option<&'a str>,
    compute_instance_id: &'a Option<String>,
    datastore: &'a str,
    version: &'a str,
    replicas: &'a [String],
    status: StatusInputs<'a>,
    /// When the last heartbeat was applied (ms): the show view's, and an admin's list's.
    heartbeat_at: i64,
    /// The show view's extra keys; a list has none.
    detail: Option<DetailSource<'a>>,
}

/// What only the show view shows: the times, and the server's full version.
struct DetailSource<'a> {
    created: i64,
    updated: i64,
    version_number: &'a str,
}

/// The [`ViewSource`] of a record (`InstanceRecord` or `ListedRecord`: the same field names),
/// with `detail` its show-only part or `None`.
macro_rules! view_source {
    ($record:expr, $expiry_ms:expr, $detail:expr) => {{
        let (record, inst) = ($record, &$record.instance);
        ViewSource {
            id: &inst.id,
            tenant_id: &inst.tenant_id,
            name: &inst.name,
            flavor_id: &inst.flavor_id,
            volume_size: inst.volume_size,
            access: inst.access.as_deref(),
            address: inst.address.as_deref(),
            network_id: &inst.network_id,
            slave_of_id: inst.slave_of_id.as_deref(),
            compute_instance_id: &inst.compute_instance_id,
            datastore: &record.datastore.name,
            version: &record.version.name,
            replicas: &record.replicas,
            status: record.status_inputs($expiry_ms),
            heartbeat_at: record.service.heartbeat_at_ms(),
            detail: $detail,
        }
    }};
}

impl<'a> ViewSource<'a> {
    /// The show view's source: everything of the record.
    pub fn detailed(record: &'a InstanceRecord, expiry_ms: i64) -> ViewSource<'a> {
        let inst = &record.instance;
        let detail = DetailSource {
            created: inst.created,
            updated: inst.updated,
            // The server's own full version once it reported it, else the catalog's.
            version_number: inst.server_version.as_deref().unwrap_or(&record.version.version),
        };
        view_source!(record, expiry_ms, Some(detail))
    }

    /// A list entry's source: the list's keys, and with `in_detail` (Trove's detail list) the
    /// show view's `created`, `updated` and `version_number` too.
    pub fn listed(record: &'a ListedRecord, expiry_ms: i64, in_detail: bool) -> ViewSource<'a> {
        let inst = &record.instance;
        let detail = in_detail.then(|| DetailSource {
            created: inst.created,
            updated: inst.updated,
            version_number: inst.server_version.as_deref().unwrap_or(&record.version.version),
        });
        view_source!(record, expiry_ms, detail)
    }
}

/// An instance's view: the list's keys, the show view's when `source` has them, and the keys
/// only admins see when `admin`.
pub fn instance_view<'a>(base: &'a str, source: &ViewSource<'a>, admin: bool) -> InstanceView<'a> {
    let tenant = source.tenant_id;
    let reference = |id: &'a str, collection: &'static str| Reference {
        id,
        links: LinkPair::of(base, tenant, collection, id),
    };
    // As stored (a create stores the request's object as it came): a tree of values per row,
    // which a typed struct would save only by showing some stored objects differently.
    let access = source
        .access
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
        .unwrap_or_else(|| json!({"is_public": false, "allowed_cidrs": []}));
    let detail = source.detail.as_ref();
    InstanceView {
        access,
        addresses: source
            .address
            .iter()
            .map(|&a| Address {
                address: a,
                network: source.network_id,
                kind: "private",
            })
            .collect(),
        created: detail.map(|d| iso(d.created)),
        datastore: DatastoreRef {
            kind: source.datastore,
            version: source.version,
            version_number: detail.map(|d| d.version_number),
        },
        flavor: reference(source.flavor_id, "flavors"),
        id: source.id,
        ip: source.address.into_iter().collect(),
        links: LinkPair::of(base, tenant, "instances", source.id),
        name: source.name,
        operating_status: source.status.operating_status(),
        region: "RegionOne",
        replica_of: source.slave_of_id.map(|s| reference(s, "instances")),
        replicas: source.replicas.iter().map(|id| reference(id, "instances")).collect(),
        server_id: admin.then_some(source.compute_instance_id),
        // An admin's list shows it too: the console's heartbeat ages.
        service_status_updated: (detail.is_some() || admin).then(|| iso(source.heartbeat_at)),
        status: source.status.api_status(),
        tenant_id: admin.then_some(tenant),
        updated: detail.map(|d| iso(d.updated)),
        volume: source.volume_size.map(|size| VolumeSize { size }),
    }
}

/// [`instance_view`] as a [`Value`], for the views that add to it.
pub fn instance(base: &str, record: &InstanceRecord, expiry_ms: i64, admin: bool) -> Value {
    serde_json::to_value(instance_view(base, &ViewSource::detailed(record, expiry_ms), admin)).unwrap_or(Value::Null)
}

/// Adds the instance's configuration group `(id, name)` to a detail view (no key without one:
/// the clients read its `id` whenever the key is there).
pub fn with_configuration(mut view: Value, base: &str, tenant: &str, group: Option<(String, String)>) -> Value {
    if let Some((id, name)) = group {
        view["configuration"] = json!({
            "id": id, "name": name, "links": links::resource(base, tenant, "configurations", &id),
        });
    }
    view
}

/// Adds `fault` to a detail view.
pub fn with_fault(mut view: Value, fault: Option<&InstanceFault>) -> Value {
    if let Some(f) = fault {
        view["fault"] = json!({"message": f.message, "created": iso(f.created), "details": Value::Null});
    }
    view
}
