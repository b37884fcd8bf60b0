//! Bad input gets Trove's fault body and status, never a 500 or a panic, and changes nothing.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::Value;

/// Asserts a Trove fault: the status, the single fault key, its code and a message.
fn assert_fault(status: u16, body: &Value, want_status: u16, want_key: &str, case: &str) {
    assert_eq!(status, want_status, "{case}: {body}");
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("{case}: fault body is not an object: {body}"));
    assert_eq!(obj.len(), 1, "{case}: one fault key: {body}");
    let fault = &body[want_key];
    assert_eq!(fault["code"], want_status, "{case}: {body}");
    assert!(
        fault["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}: message: {body}"
    );
}

async fn bad_requests_get_trove_faults(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(60_000)
    })
    .await;
    let api = &app.api;
    // A version whose binaries are missing is inactive: make Redis's so, whatever is installed.
    app.node
        .services
        .db
        .run(|c| {
            use coffer::db::schema::datastore_versions as v;
            use diesel::prelude::*;
            Ok(diesel::update(v::table.filter(v::manager.eq("redis")))
                .set(v::active.eq(false))
                .execute(c)?)
        })
        .await
        .expect("deactivate redis");
    let create = |instance: &str| format!(r#"{{"instance": {instance}}}"#);
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "badRequest"),
        ("[]".into(), 400, "badRequest"),
        (r#"{"server": {}}"#.into(), 400, "badRequest"),
        (create(r#"{"flavorRef": "1"}"#), 400, "badRequest"),
        (create(r#"{"name": "", "flavorRef": "1"}"#), 400, "badRequest"),
        (create(r#"{"name": "x"}"#), 400, "badRequest"),
        (create(r#"{"name": "x", "flavorRef": "nope"}"#), 404, "itemNotFound"),
        (
            create(r#"{"name": "x", "flavorRef": "1", "volume": {"size": 0}}"#),
            400,
            "badRequest",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "volume": {"size": -1}}"#),
            400,
            "badRequest",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "volume": {"size": "abc"}}"#),
            400,
            "badRequest",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "volume": {"size": 11}}"#),
            413,
            "overLimit",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "datastore": {"type": "nosuch"}}"#),
            404,
            "itemNotFound",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "datastore": {"type": "simulated", "version": "9"}}"#),
            404,
            "itemNotFound",
        ),
        (
            create(r#"{"name": "x", "flavorRef": "1", "datastore": {"type": "redis"}}"#),
            400,
            "badRequest",
        ),
    ];
    for (body, want_status, want_key) in &cases {
        let (status, resp) = api.send("POST", "/instances", Some(body)).await;
        assert_fault(status, &resp, *want_status, want_key, body);
    }
    let (_, list) = api.get("/instances").await;
    assert_eq!(
        list["instances"].as_array().map(Vec::len),
        Some(0),
        "a refused create stored nothing"
    );

    let unknown = "00000000-0000-0000-0000-000000000000";
    let (status, body) = api.get(&format!("/instances/{unknown}")).await;
    assert_fault(status, &body, 404, "itemNotFound", "show unknown");
    let (status, body) = api.send("DELETE", &format!("/instances/{unknown}"), None).await;
    assert_fault(status, &body, 404, "itemNotFound", "delete unknown");
    let (status, body) = api
        .send(
            "POST",
            &format!("/instances/{unknown}/action"),
            Some(r#"{"restart": {}}"#),
        )
        .await;
    assert_fault(status, &body, 404, "itemNotFound", "restart unknown");
    let (status, body) = api.get("/flavors/nope").await;
    assert_fault(status, &body, 404, "itemNotFound", "flavor unknown");
    let (status, body) = api.get("/datastores/nope").await;
    assert_fault(status, &body, 404, "itemNotFound", "datastore unknown");
    let (status, body) = api.get("/instances?limit=abc").await;
    assert_fault(status, &body, 400, "badRequest", "limit abc");
    let (status, body) = api.get("/instances?marker=nope").await;
    assert_fault(status, &body, 400, "badRequest", "unknown marker");

    // An instance that stays in BUILD (prepare takes a minute): restart is refused, nothing moves.
    let id = api.create("building").await;
    let before = api.flows(&id).await;
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_fault(status, &body, 422, "unprocessableEntity", "restart in BUILD");
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"explode": {}}"#))
        .await;
    assert_fault(status, &body, 400, "badRequest", "unknown action");
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some("{oops"))
        .await;
    assert_fault(status, &body, 400, "badRequest", "malformed action");
    assert_eq!(api.instance(&id).await.expect("exists")["status"], "BUILD");
    let after: Vec<_> = api.flows(&id).await.into_iter().map(|f| f.0).collect();
    assert_eq!(
        after,
        before.into_iter().map(|f| f.0).collect::<Vec<_>>(),
        "a refused action recorded no flow"
    );
    let (status, body) = api.get("/no/such/route").await;
    assert_eq!(status, 404, "{body}");
}
both_backends!(bad_requests_get_trove_faults);
