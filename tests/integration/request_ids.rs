//! One request id end to end: the `X-Openstack-Request-Id` a create is answered with is in the
//! JSON log lines of its API handler, of each step of its create flow, of compute's
//! provisioning and of the guest's prepare — and the id of another request is not.

use crate::support::{eventually, Backend, CofferProcess, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// The log's JSON lines that mention `id` anywhere (their fields or their spans').
fn lines_with(log: &str, id: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| l.contains(id))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn text(line: &Value) -> String {
    line.to_string()
}

#[actix_web::test]
async fn a_creates_request_id_follows_its_work() {
    let db = TestDb::new(Backend::Sqlite);
    let env = [
        ("COFFER_LOG_FORMAT", "json".to_string()),
        ("COFFER_LOG_FILTER", "info".to_string()),
    ];
    let coffer = CofferProcess::start(&db, &env).await;
    let api = &coffer.api;
    let body = json!({"instance": {"name": "traced", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "simulated"}}});
    let url = format!("{}/instances", api.base);
    let (status, headers, created) = api
        .send_raw(
            "POST",
            &url,
            &[("Content-Type", "application/json")],
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("the create is answered with its request id")
        .to_string();
    assert!(id.starts_with("req-") && id.len() == 40, "{id}");
    let instance = created["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&instance).await;
    // Every answer has its own id, errors too.
    let (status, headers, _) = api
        .send_raw("GET", &format!("{}/instances/nope", api.base), &[], None)
        .await;
    assert_eq!(status, 404);
    let other = headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("404 has an id")
        .to_string();
    assert_ne!(other, id);

    let log_file = db.dir.path().join("coffer.log");
    let what = format!("the create's log lines carrying {id} (handler, steps, compute, prepare)");
    let (log, (handler, steps, compute, prepare)) = eventually(Duration::from_secs(10), &what, || async {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        let lines = lines_with(&log, &id);
        let handler = lines
            .iter()
            .any(|l| text(l).contains(&format!("instance {instance} requested")));
        let steps: Vec<String> = ["create_server", "prepare", "wait_until_healthy"]
            .into_iter()
            .filter(|step| lines.iter().any(|l| text(l).contains(&format!("\"step\":\"{step}\""))))
            .map(str::to_string)
            .collect();
        let compute = lines.iter().any(|l| text(l).contains("provisioning the server"));
        let prepare = lines.iter().any(|l| text(l).contains("the datastore is prepared"));
        let found = handler && steps.len() == 3 && compute && prepare;
        let seen = (handler, steps, compute, prepare);
        if found {
            Ok((log, seen))
        } else {
            Err(seen)
        }
    })
    .await;
    assert!(
        !lines_with(&log, &other).iter().any(|l| text(l).contains(&instance)),
        "another request's id stays out of the create's lines"
    );
    assert!(handler, "the API handler's line carries {id}");
    assert_eq!(steps.len(), 3, "each create step's line carries {id}: {steps:?}");
    assert!(compute, "compute's provisioning line carries {id}");
    assert!(prepare, "the guest's prepare line carries {id}");
}
