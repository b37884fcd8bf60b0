//! Malformed or unknown messages on every topic are answered with an error and logged; the
//! consumers keep working.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use coffer::bus::{self, BusError, Envelope};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

async fn bad_messages_are_answered_not_fatal(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let bus = app.node.services.bus.clone();

    let unknown = bus
        .call(bus::TASKMANAGER, Envelope::new("explode", json!({})), WAIT)
        .await;
    assert!(
        matches!(unknown, Err(BusError::Remote(ref m)) if m.contains("unknown method")),
        "{unknown:?}"
    );
    let malformed = bus
        .call(
            bus::TASKMANAGER,
            Envelope::new("create_instance", json!("nonsense")),
            WAIT,
        )
        .await;
    assert!(
        matches!(malformed, Err(BusError::Remote(ref m)) if m.contains("malformed")),
        "{malformed:?}"
    );

    let bad_beat = bus
        .call(
            bus::CONDUCTOR,
            Envelope::new("heartbeat", json!({"sent": "yesterday"})),
            WAIT,
        )
        .await;
    assert!(matches!(bad_beat, Err(BusError::Remote(_))), "{bad_beat:?}");
    let unknown = bus
        .call(bus::CONDUCTOR, Envelope::new("explode", json!({})), WAIT)
        .await;
    assert!(matches!(unknown, Err(BusError::Remote(_))), "{unknown:?}");

    // Everything still works: a create goes through the task manager, guest and conductor.
    let id = app.api.create("after-garbage").await;
    app.api.wait_active(&id).await;
    let topic = bus::guest_topic(&id);
    let unknown = bus.call(&topic, Envelope::new("explode", json!({})), WAIT).await;
    assert!(matches!(unknown, Err(BusError::Remote(_))), "{unknown:?}");
    let malformed = bus
        .call(&topic, Envelope::new("prepare", json!("nonsense")), WAIT)
        .await;
    assert!(matches!(malformed, Err(BusError::Remote(_))), "{malformed:?}");
    let ping = app.node.services.guests.call(&id, "rpc_ping", json!({}), WAIT).await;
    assert_eq!(ping.expect("the guest still answers"), json!(true));
    assert_eq!(app.api.actors("guest_session").await, vec![id.clone()]);
    let (_, body) = app.api.get("/mgmt/supervision-events?limit=1000").await;
    let failures = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "failed")
        .count();
    assert_eq!(failures, 0, "bad messages crashed no actor: {body}");
}
both_backends!(bad_messages_are_answered_not_fatal);
