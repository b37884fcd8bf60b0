//! What a stored event looks like on the stream: its `facts` (the stored columns the triggers
//! took) turned into the API's words, an instance's `status` and `operating_status` by the same
//! rules as every instance view.

use crate::db::models::event::StoredEvent;
use crate::status::{ServiceStatus, StatusInputs, Task};
use crate::web::views::iso_ms;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One event as sent (`data:`), and its SSE `event:` name (`kind`).
#[derive(Debug, Serialize)]
pub struct EventBody {
    pub id: i64,
    /// RFC 3339, milliseconds, UTC.
    pub at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: Option<String>,
    #[serde(flatten)]
    pub detail: Detail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    Instance(InstanceChange),
    Backup(Value),
    Flow(Value),
    Supervision(Value),
    Other(Value),
}

#[derive(Debug, Serialize)]
pub struct InstanceChange {
    pub id: String,
    pub name: String,
    /// Trove's `status` (DELETED once the instance is deleted).
    pub status: &'static str,
    pub operating_status: &'static str,
    pub task_description: Option<&'static str>,
    pub server_status: Option<String>,
    /// The guest's last reported status (as `service_status` in Trove's views).
    pub service_status: Option<&'static str>,
}

/// The stored columns of an instance, as the triggers took them.
#[derive(Debug, Deserialize)]
struct InstanceFacts {
    #[serde(default)]
    name: String,
    task_id: Option<i32>,
    server_status: Option<String>,
    service_status_id: Option<i32>,
    #[serde(default, deserialize_with = "flag")]
    backup_running: bool,
    #[serde(default, deserialize_with = "flag")]
    deleted: bool,
}

/// SQLite's JSON has 0/1 where PostgreSQL's has false/true.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    })
}

/// `event` as sent; `operator`: for an admin (a flow's lease owner, a node's name, is shown
/// to admins only).
pub fn render(event: &StoredEvent, operator: bool) -> EventBody {
    let facts: Value = serde_json::from_str(&event.facts).unwrap_or(Value::Null);
    let detail = match event.kind.as_str() {
        "instance" => match InstanceFacts::deserialize(&facts) {
            Ok(f) => Detail::Instance(instance_change(&event.target_id, f)),
            Err(_) => Detail::Other(facts),
        },
        "backup" => Detail::Backup(with_id(registered_of_no_instance(facts), "id", &event.target_id)),
        "flow" => Detail::Flow(flow(facts, &event.target_id, operator)),
        "supervision" => Detail::Supervision(with_id(facts, "actor_id", &event.target_id)),
        _ => Detail::Other(facts),
    };
    EventBody {
        id: event.id,
        at: iso_ms(event.at),
        kind: event.kind.clone(),
        project_id: event.project_id.clone(),
        detail,
    }
}

fn instance_change(id: &str, f: InstanceFacts) -> InstanceChange {
    let task = f.task_id.and_then(Task::from_code);
    let service = f.service_status_id.and_then(ServiceStatus::from_code);
    let inputs = StatusInputs {
        task,
        server_status: f.server_status.as_deref(),
        service,
        // The status as it was stored then: a heartbeat had just been applied.
        heartbeat_age_ms: 0,
        heartbeat_expiry_ms: i64::MAX,
        backup_running: f.backup_running,
    };
    let (status, operating_status) = match f.deleted {
        true => ("DELETED", ""),
        false => (inputs.api_status(), inputs.operating_status()),
    };
    InstanceChange {
        id: id.to_string(),
        name: f.name,
        status,
        operating_status,
        task_description: task.map(Task::description),
        server_status: f.server_status,
        service_status: service.map(ServiceStatus::api_status),
    }
}

/// A registered backup's blank `instance_id` as the REST view shows it: null.
fn registered_of_no_instance(mut facts: Value) -> Value {
    if facts["instance_id"] == "" {
        facts["instance_id"] = Value::Null;
    }
    facts
}

fn with_id(mut facts: Value, key: &str, id: &str) -> Value {
    if let Some(map) = facts.as_object_mut() {
        map.insert(key.to_string(), Value::from(id));
        if let Some(deleted) = map.get("deleted").cloned() {
            map.insert(
                "deleted".into(),
                Value::Bool(deleted == Value::Bool(true) || deleted == 1),
            );
        }
    }
    facts
}

/// A flow step: its kind, step number and name, status, attempts and lease owner.
fn flow(mut facts: Value, target: &str, operator: bool) -> Value {
    if let Some(map) = facts.as_object_mut() {
        if !operator {
            map.remove("owner");
        }
        let kind = map
            .get("flow_kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let step = map.get("step").and_then(Value::as_i64).unwrap_or(0) as i32;
        map.insert("step_name".into(), Value::from(crate::flows::step_name(&kind, step)));
        map.insert("target_id".into(), Value::from(target));
    }
    facts
}
