//! `/mgmt/actors`' tree: the process's live actors nested under the actor that supervises
//! each, below the system. An actor whose supervisor is not alive (it is being restarted)
//! hangs from the system, naming it. A node lists at most [`CHILDREN_SHOWN`] children (a
//! compute with 100,000 guest sessions), and says how many it has. An actor fed by a bus topic
//! (task manager, conductor, guest pool, guest session) shows its mailbox depth: the messages
//! waiting on its topic (the in-process queue's length, or the broker's count of the queue's
//! ready messages); null for actors fed only by their own process's messages, and for topics
//! RabbitMQ did not count within [`COUNTING_WITHIN`].

use crate::bus::{self, Bus};
use crate::telemetry::supervision::{ActorEntry, ActorRef};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CHILDREN_SHOWN: usize = 1000;

/// How long the tree waits for the broker's counts of its topics, all told.
pub const COUNTING_WITHIN: Duration = Duration::from_secs(2);

/// Messages waiting on each topic that feeds one of `actors` the tree shows (the first
/// [`CHILDREN_SHOWN`] of each supervisor's), as far as counted in time.
pub async fn mailbox_depths(bus: &Bus, actors: &[ActorEntry]) -> HashMap<String, usize> {
    let started = Instant::now();
    let mut depths = HashMap::new();
    let mut seen_under: HashMap<Option<&ActorRef>, usize> = HashMap::new();
    for actor in actors {
        let seen = seen_under.entry(actor.supervisor.as_ref()).or_default();
        *seen += 1;
        if *seen > CHILDREN_SHOWN {
            continue;
        }
        let Some(topic) = topic_of(&actor.kind, &actor.id) else {
            continue;
        };
        if depths.contains_key(&topic) {
            continue;
        }
        let Some(left) = COUNTING_WITHIN.checked_sub(started.elapsed()) else {
            break;
        };
        if let Ok(Some(waiting)) = tokio::time::timeout(left, bus.queued(&topic)).await {
            depths.insert(topic, waiting);
        }
    }
    depths
}

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

/// The tree of `actors` below the system `node_id`, with the `depths` of their topics.
pub fn of(node_id: &str, actors: &[ActorEntry], depths: &HashMap<String, usize>) -> Value {
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
    attach(&mut root, children.get(&None), &children, depths);
    root
}

fn attach(
    node: &mut Value,
    kids: Option<&Vec<&ActorEntry>>,
    all: &HashMap<Option<(&str, &str)>, Vec<&ActorEntry>>,
    depths: &HashMap<String, usize>,
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
                "mailbox_depth": topic_of(&actor.kind, &actor.id).and_then(|topic| depths.get(&topic)),
            });
            if let Some(ActorRef { kind, id }) = &actor.supervisor {
                child["supervisor"] = json!({"kind": kind, "id": id});
            }
            attach(
                &mut child,
                all.get(&Some((actor.kind.as_str(), actor.id.as_str()))),
                all,
                depths,
            );
            child
        })
        .collect();
    node["children"] = Value::Array(shown);
}
