//! `/mgmt/actors`' tree: the process's live actors nested under the actor that supervises
//! each, below the system. An actor whose supervisor is not alive (it is being restarted)
//! hangs from the system, naming it. A node lists at most [`CHILDREN_SHOWN`] children (a
//! compute with 100,000 guest sessions), and says how many it has.

use crate::telemetry::supervision::{ActorEntry, ActorRef};
use serde_json::{json, Value};
use std::collections::HashMap;

const CHILDREN_SHOWN: usize = 1000;

pub fn of(node_id: &str, actors: &[ActorEntry]) -> Value {
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
    attach(&mut root, children.get(&None), &children);
    root
}

fn attach(node: &mut Value, kids: Option<&Vec<&ActorEntry>>, all: &HashMap<Option<(&str, &str)>, Vec<&ActorEntry>>) {
    let kids = kids.map(Vec::as_slice).unwrap_or_default();
    node["children_total"] = json!(kids.len());
    let shown: Vec<Value> = kids
        .iter()
        .take(CHILDREN_SHOWN)
        .map(|actor| {
            let mut child = json!({
                "kind": actor.kind, "id": actor.id, "started_at": actor.started_at,
                "restarts": actor.restarts, "last_failure": actor.last_failure,
            });
            if let Some(ActorRef { kind, id }) = &actor.supervisor {
                child["supervisor"] = json!({"kind": kind, "id": id});
            }
            attach(
                &mut child,
                all.get(&Some((actor.kind.as_str(), actor.id.as_str()))),
                all,
            );
            child
        })
        .collect();
    node["children"] = Value::Array(shown);
}
