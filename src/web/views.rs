//! The instance view (Trove's `InstanceView` / `InstanceDetailView`): what list, show and create
//! return, with `status` and `operating_status` derived by Trove's rules; and the pieces other
//! typed views share ([`LinkPair`], [`Keyed`] for a body of one key).

use super::links;
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::InstanceRecord;
use serde::Serialize;
use serde_json::{json, Value};

/// A timestamp as Trove shows it (UTC, seconds).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
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

/// The list view; `detail` adds the show-only keys, `admin` the keys only admins see.
pub fn instance_view<'a>(
    base: &'a str,
    record: &'a InstanceRecord,
    expiry_ms: i64,
    detail: bool,
    admin: bool,
) -> InstanceView<'a> {
    let inst = &record.instance;
    let tenant = inst.tenant_id.as_str();
    let status = record.status_inputs(expiry_ms);
    let reference = |id: &'a str, collection: &'static str| Reference {
        id,
        links: LinkPair::of(base, tenant, collection, id),
    };
    let access = inst
        .access
        .as_deref()
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
        .unwrap_or_else(|| json!({"is_public": false, "allowed_cidrs": []}));
    InstanceView {
        access,
        addresses: inst
            .address
            .iter()
            .map(|a| Address {
                address: a,
                network: &inst.network_id,
                kind: "private",
            })
            .collect(),
        created: detail.then(|| iso(inst.created)),
        datastore: DatastoreRef {
            kind: &record.datastore.name,
            version: &record.version.name,
            // The server's own full version once it reported it, else the catalog's.
            version_number: detail.then(|| inst.server_version.as_deref().unwrap_or(&record.version.version)),
        },
        flavor: reference(&inst.flavor_id, "flavors"),
        id: &inst.id,
        ip: inst.address.iter().map(String::as_str).collect(),
        links: LinkPair::of(base, tenant, "instances", &inst.id),
        name: &inst.name,
        operating_status: status.operating_status(),
        region: "RegionOne",
        replica_of: inst.slave_of_id.as_deref().map(|s| reference(s, "instances")),
        replicas: record.replicas.iter().map(|id| reference(id, "instances")).collect(),
        server_id: admin.then_some(&inst.compute_instance_id),
        service_status_updated: detail.then(|| iso(record.service.updated_at)),
        status: status.api_status(),
        tenant_id: admin.then_some(tenant),
        updated: detail.then(|| iso(inst.updated)),
        volume: inst.volume_size.map(|size| VolumeSize { size }),
    }
}

/// [`instance_view`] as a [`Value`], for the views that add to it.
pub fn instance(base: &str, record: &InstanceRecord, expiry_ms: i64, detail: bool, admin: bool) -> Value {
    serde_json::to_value(instance_view(base, record, expiry_ms, detail, admin)).unwrap_or(Value::Null)
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
