//! `/mgmt/actors`' tree: the process's live actors nested under the actor that supervises
//! each, below the system. An actor whose supervisor is not alive (it is being restarted)
//! hangs from the system, naming it. A node lists at most [`CHILDREN_SHOWN`] children (a
//! compute with 100,000 guest sessions), and says how many it has. An actor fed by a bus topic
//! (task manager, conductor, guest pool, guest session) shows its mailbox depth: the messages
//! waiting on its topic, where this process counts them (the in-process bus; null on RabbitMQ,
//! whose broker counts its queues, and for actors fed only by their own process's messages).

use crate::bus::{self, Bus};
use crate::telemetry::supervision::{ActorEntry, ActorRef};
use serde_json::{json, Value};
use std::collections::HashMap;

const CHILDREN_SHOWN: usize = 1000;

/// The bus topic that feeds an actor of `kind`, if one does.
fn topic_of(kind: &str, id: &str) -> Option<String> {
    match kind {
        "task_manager" => Some(bus::TASKMANAGER.to_string()),
        "conductor" => Some(bus::CONDUCTOR.to_string()),
        "guest_pool" => Some(bus::GUEST_POOL.to_string()),
        "guest_session" => Some(bus::guest_topic(id)),
        _ => None,
    }
}

pub fn of(node_id: &str, actors: &[ActorEntry], bus: &Bus) -> Value {
    let alive: std::collections::HashSet<(&str, &str)> =
        actors.iter().map(|a| (a.kind.as_str(), a.id.as_str())).collect();
    let mut children: HashMap<Option<(&str, &str)>, Vec<&ActorEntry>> = HashMap::new();
    for actor in actors {
        let parent = actor
            .supervisor
            .as_ref()
            .map(|s| (s.kind.as_str(), s.id.as_str()))
            .filter(|p| alive.contains(p));
        children.entry(parent).or_default().push(actor);
    }
    let mut root = json!({"kind": "system", "id": node_id});
    attach(&mut root, children.get(&None), &children, bus);
    root
}

fn attach(
    node: &mut Value,
    kids: Option<&Vec<&ActorEntry>>,
    all: &HashMap<Option<(&str, &str)>, Vec<&ActorEntry>>,
    bus: &Bus,
) {
    let kids = kids.map(Vec::as_slice).unwrap_or_default();
    node["children_total"] = json!(kids.len());
    let shown: Vec<Value> = kids
        .iter()
        .take(CHILDREN_SHOWN)
        .map(|actor| {
            let mut child = json!({
                "kind": actor.kind, "id": actor.id, "started_at": actor.started_at,
                "restarts": actor.restarts, "last_failure": actor.last_failure,
                "mailbox_depth": topic_of(&actor.kind, &actor.id).and_then(|topic| bus.queued(&topic)),
            });
            if let Some(ActorRef { kind, id }) = &actor.supervisor {
                child["supervisor"] = json!({"kind": kind, "id": id});
            }
            attach(
                &mut child,
                all.get(&Some((actor.kind.as_str(), actor.id.as_str()))),
                all,
                bus,
            );
            child
        })
        .collect();
    node["children"] = Value::Array(shown);
}
