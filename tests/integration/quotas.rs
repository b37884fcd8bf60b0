//! Quotas: enforced without races, released when the resources are really gone, never drifting.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use futures::future::join_all;
use serde_json::Value;

fn usage(quotas: &Value, resource: &str) -> (i64, i64) {
    let row = quotas["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|q| q["resource"] == resource)
        .expect("row");
    (
        row["in_use"].as_i64().expect("in_use"),
        row["limit"].as_i64().expect("limit"),
    )
}

async fn concurrent_creates_respect_the_limit(backend: Backend) {
    let app = TestApp::start(backend, |c| c.database.pool_size = 8).await;
    let api = &app.api;
    let (status, body) = api
        .send("PUT", "/mgmt/quotas/t1", Some(r#"{"quotas": {"instances": 5}}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, limits) = api.get("/limits").await;
    assert_eq!(limits["limits"][0]["verb"], "ABSOLUTE");
    assert_eq!(limits["limits"][0]["max_instances"], 5);

    let body =
        r#"{"instance": {"name": "q", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "simulated"}}}"#;
    let answers = join_all((0..20).map(|_| api.send("POST", "/instances", Some(body)))).await;
    let ok: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    let over = answers
        .iter()
        .filter(|(s, b)| *s == 413 && b["overLimit"]["code"] == 413)
        .count();
    assert_eq!((ok.len(), over), (5, 15), "exactly the quota succeeds: {answers:?}");

    let (_, quotas) = api.get("/mgmt/quotas/t1").await;
    assert_eq!(usage(&quotas, "instances"), (5, 5));
    assert_eq!(usage(&quotas, "volumes").0, 5);
    assert_eq!(usage(&quotas, "ram").0, 5 * 512);

    let first = ok[0]["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&first).await;
    let (status, _) = api.send("DELETE", &format!("/instances/{first}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&first).await;
    let (_, quotas) = api.get("/mgmt/quotas/t1").await;
    assert_eq!(
        usage(&quotas, "instances").0,
        4,
        "released once the instance is really gone"
    );
    let (status, created) = api.send("POST", "/instances", Some(body)).await;
    assert_eq!(status, 200, "one more fits: {created}");
    let (status, _) = api.send("POST", "/instances", Some(body)).await;
    assert_eq!(status, 413);

    let (_, list) = api.get("/instances").await;
    let live = list["instances"].as_array().map(Vec::len).unwrap_or(0) as i64;
    let (_, quotas) = api.get("/mgmt/quotas/t1").await;
    assert_eq!(
        usage(&quotas, "instances").0,
        live,
        "usage matches the instances that exist"
    );
    assert_eq!(usage(&quotas, "ram").0, live * 512);

    let (status, _) = api
        .send("PUT", "/mgmt/quotas/t1", Some(r#"{"quotas": {"instances": -2}}"#))
        .await;
    assert_eq!(status, 400, "a limit below -1 is refused");
}
both_backends!(concurrent_creates_respect_the_limit);
