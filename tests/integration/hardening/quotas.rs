//! Quota usage never drifts from what instances really hold: a flavor resize takes (and gives
//! back) memory, a resize cancelled by DELETE or `reset_status` gives its growth back.

use crate::both_backends;
use crate::support::{assert_usage_is_reality, eventually, Api, Backend, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

async fn usage(api: &Api, resource: &str) -> i64 {
    let (status, quotas) = api.get("/mgmt/quotas/t1").await;
    assert_eq!(status, 200, "{quotas}");
    quotas["quotas"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["resource"] == resource))
        .and_then(|r| r["in_use"].as_i64())
        .expect("usage row")
}

async fn create(api: &Api, name: &str, flavor: &str) -> String {
    let body = json!({"instance": {"name": name, "flavorRef": flavor, "volume": {"size": 1},
        "datastore": {"type": "simulated"}}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&id).await;
    id
}

async fn act(api: &Api, id: &str, body: Value) -> (u16, Value) {
    api.send("POST", &format!("/instances/{id}/action"), Some(&body.to_string()))
        .await
}

async fn wait_flavor(api: &Api, id: &str, flavor: &str) {
    api.wait_for(id, Duration::from_secs(30), "resized", |v| {
        v.is_some_and(|v| v["flavor"]["id"] == flavor && v["status"] == "ACTIVE")
    })
    .await;
}

async fn flavor_resizes_take_and_give_back_memory(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (status, body) = api
        .send("PUT", "/mgmt/quotas/t1", Some(r#"{"quotas": {"ram": 3000}}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    let first = create(api, "first", "1").await;
    assert_eq!(usage(api, "ram").await, 512);
    let (status, body) = act(api, &first, json!({"resize": {"flavorRef": "3"}})).await;
    assert_eq!(
        (status, body["overLimit"]["code"].clone()),
        (413, json!(413)),
        "4096 MB is over 3000: {body}"
    );
    assert_eq!(usage(api, "ram").await, 512, "a refused resize takes nothing");
    let (status, body) = act(api, &first, json!({"resize": {"flavorRef": "2"}})).await;
    assert_eq!(status, 202, "{body}");
    wait_flavor(api, &first, "2").await;
    assert_eq!(usage(api, "ram").await, 2048);
    let (status, _) = act(api, &first, json!({"resize": {"flavorRef": "1"}})).await;
    assert_eq!(status, 202);
    wait_flavor(api, &first, "1").await;
    assert_eq!(usage(api, "ram").await, 512, "a smaller flavor gives memory back");
    let second = create(api, "second", "2").await;
    assert_eq!(usage(api, "ram").await, 2560);
    let (status, _) = act(api, &first, json!({"resize": {"flavorRef": "2"}})).await;
    assert_eq!(status, 413, "2560 - 512 + 2048 is over 3000");
    assert_usage_is_reality(&app.node.services.db).await;
    for id in [&first, &second] {
        api.send("DELETE", &format!("/instances/{id}"), None).await;
        api.wait_gone(id).await;
    }
    assert_eq!(usage(api, "ram").await, 0);
    assert_usage_is_reality(&app.node.services.db).await;
}
both_backends!(flavor_resizes_take_and_give_back_memory);

async fn cancelled_resizes_give_their_growth_back(backend: Backend) {
    // Each resize's first attempt fails and its retry waits 3 s: long enough to cancel it.
    let app = TestApp::start(backend, |c| {
        c.testing.enabled = true;
        c.testing.fail_at = "resize_volume:0:error,resize_flavor:0:error".into();
        c.taskmanager.retry_backoff_ms = std::time::Duration::from_millis(3000);
    })
    .await;
    let api = &app.api;
    let deleted = create(api, "deleted", "1").await;
    let (status, body) = act(api, &deleted, json!({"resize": {"volume": {"size": 3}}})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(usage(api, "volumes").await, 3, "the growth is taken when asked for");
    api.send("DELETE", &format!("/instances/{deleted}"), None).await;
    api.wait_gone(&deleted).await;
    assert_eq!(
        usage(api, "volumes").await,
        0,
        "a resize cancelled by DELETE leaks nothing"
    );

    let reset = create(api, "reset", "1").await;
    let (status, _) = act(api, &reset, json!({"resize": {"volume": {"size": 4}}})).await;
    assert_eq!(status, 202);
    assert_eq!(usage(api, "volumes").await, 4);
    let (status, _) = act(api, &reset, json!({"reset_status": {}})).await;
    assert_eq!(status, 202);
    assert_eq!(usage(api, "volumes").await, 1, "reset_status gives the growth back");
    assert_usage_is_reality(&app.node.services.db).await;
    // Once the flow actor of the instance is done (it retried and found its flow cancelled),
    // the cancelled resize has not recorded its size after all.
    eventually(Duration::from_secs(15), "the instance's flow actor is done", || async {
        (!api.actors("instance").await.contains(&reset))
            .then_some(())
            .ok_or("not yet")
    })
    .await;
    let view = api.instance(&reset).await.expect("view");
    assert_eq!(view["volume"]["size"], 1, "{view}");
    assert_eq!(usage(api, "volumes").await, 1);

    let (status, _) = act(api, &reset, json!({"reset_status": {}})).await;
    assert_eq!(status, 202);
    api.wait_active(&reset).await;
    let (status, _) = act(api, &reset, json!({"resize": {"flavorRef": "2"}})).await;
    assert_eq!(status, 202);
    assert_eq!(usage(api, "ram").await, 2048);
    let (status, _) = act(api, &reset, json!({"reset_status": {}})).await;
    assert_eq!(status, 202);
    assert_eq!(
        usage(api, "ram").await,
        512,
        "a cancelled flavor resize gives its memory back"
    );
    assert_usage_is_reality(&app.node.services.db).await;
    api.send("DELETE", &format!("/instances/{reset}"), None).await;
    api.wait_gone(&reset).await;
    assert_usage_is_reality(&app.node.services.db).await;
    for resource in ["instances", "ram", "volumes"] {
        assert_eq!(usage(api, resource).await, 0, "{resource}");
    }
}
both_backends!(cancelled_resizes_give_their_growth_back);

async fn concurrent_actions_on_one_instance_start_one(backend: Backend) {
    let app = TestApp::start(backend, |c| c.database.pool_size = 12).await;
    let api = &app.api;
    let id = create(api, "raced", "1").await;
    let resize = json!({"resize": {"flavorRef": "2"}}).to_string();
    let path = format!("/instances/{id}/action");
    let answers = futures::future::join_all((0..20).map(|_| api.send("POST", &path, Some(&resize)))).await;
    let started = answers.iter().filter(|(s, _)| *s == 202).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 422 && b["unprocessableEntity"]["code"] == 422)
        .count();
    assert_eq!(
        (started, refused),
        (1, 19),
        "one resize starts, the others are refused: {answers:?}"
    );
    wait_flavor(api, &id, "2").await;
    assert_eq!(usage(api, "ram").await, 2048, "the growth was taken once");
    // A delete racing resizes and restarts: whatever started, nothing leaks.
    let (status, _) = act(api, &id, json!({"resize": {"flavorRef": "1"}})).await;
    assert_eq!(status, 202);
    wait_flavor(api, &id, "1").await;
    let bodies: Vec<String> = (0..12)
        .map(|i| match i % 3 {
            0 => json!({"resize": {"volume": {"size": 3}}}),
            1 => json!({"resize": {"flavorRef": "2"}}),
            _ => json!({"restart": {}}),
        })
        .map(|b| b.to_string())
        .collect();
    let sends: Vec<_> = bodies.iter().map(|b| api.send("POST", &path, Some(b))).collect();
    let instance_path = format!("/instances/{id}");
    let delete = api.send("DELETE", &instance_path, None);
    let (answers, (status, _)) = futures::join!(futures::future::join_all(sends), delete);
    assert_eq!(status, 202);
    assert!(
        answers.iter().all(|(s, _)| matches!(s, 202 | 400 | 404 | 422)),
        "{answers:?}"
    );
    api.wait_gone(&id).await;
    assert_usage_is_reality(&app.node.services.db).await;
    for resource in ["instances", "ram", "volumes"] {
        assert_eq!(usage(api, resource).await, 0, "{resource}");
    }
}
both_backends!(concurrent_actions_on_one_instance_start_one);
