//! The instance view (Trove's `InstanceView` / `InstanceDetailView`): what list, show and create
//! return, with `status` and `operating_status` derived by Trove's rules.

use super::links;
use crate::db::models::fault::InstanceFault;
use crate::db::models::instance::InstanceRecord;
use serde_json::{json, Value};

/// A timestamp as Trove shows it (UTC, seconds).
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The list view; `detail` adds the show-only keys, `admin` the keys only admins see.
pub fn instance(base: &str, record: &InstanceRecord, expiry_ms: i64, detail: bool, admin: bool) -> Value {
    let inst = &record.instance;
    let status = record.status_inputs(expiry_ms);
    let mut view = json!({
        "id": inst.id,
        "name": inst.name,
        "status": status.api_status(),
        "operating_status": status.operating_status(),
        "links": links::resource(base, &inst.tenant_id, "instances", &inst.id),
        "flavor": {"id": inst.flavor_id, "links": links::resource(base, &inst.tenant_id, "flavors", &inst.flavor_id)},
        "datastore": {"type": record.datastore.name, "version": record.version.name},
        "region": "RegionOne",
        "ip": inst.address.iter().collect::<Vec<_>>(),
        "addresses": inst.address.iter()
            .map(|a| json!({"address": a, "type": "private", "network": inst.network_id}))
            .collect::<Vec<_>>(),
    });
    if let Some(source) = &inst.slave_of_id {
        view["replica_of"] =
            json!({"id": source, "links": links::resource(base, &inst.tenant_id, "instances", source)});
    }
    if !record.replicas.is_empty() {
        let replicas: Vec<Value> = record
            .replicas
            .iter()
            .map(|id| json!({"id": id, "links": links::resource(base, &inst.tenant_id, "instances", id)}))
            .collect();
        view["replicas"] = json!(replicas);
    }
    if admin {
        view["tenant_id"] = json!(inst.tenant_id);
        view["server_id"] = json!(inst.compute_instance_id);
    }
    if let Some(size) = inst.volume_size {
        view["volume"] = json!({ "size": size });
    }
    let access = inst
        .access
        .as_deref()
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
        .unwrap_or_else(|| json!({"is_public": false, "allowed_cidrs": []}));
    view["access"] = access;
    if detail {
        view["created"] = json!(iso(inst.created));
        view["updated"] = json!(iso(inst.updated));
        view["service_status_updated"] = json!(iso(record.service.updated_at));
        // The server's own full version once it reported it, else the catalog's.
        let number = inst.server_version.as_deref().unwrap_or(&record.version.version);
        view["datastore"]["version_number"] = json!(number);
    }
    view
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
