//! Databases, users and root through the API: Trove's shapes, and its faults for bad input.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::Value;

fn assert_fault(status: u16, body: &Value, want: u16, case: &str) {
    assert_eq!(status, want, "{case}: {body}");
    let key = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    assert_eq!(body[&key]["code"], want, "{case}: Trove fault body: {body}");
}

async fn accounts_on_a_simulated_instance(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let body = r#"{"instance": {"name": "acc", "flavorRef": "1", "datastore": {"type": "simulated"},
        "databases": [{"name": "shop"}], "users": [{"name": "app", "password": "pw", "databases": [{"name": "shop"}]}]}}"#;
    let (status, created) = api.send("POST", "/instances", Some(body)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["instance"]["id"].as_str().expect("id").to_string();
    let path = |p: &str| format!("/instances/{id}{p}");

    // Not ready yet: 422.
    let (status, body) = api.get(&path("/users")).await;
    assert_fault(status, &body, 422, "users of an instance in BUILD");
    api.wait_active(&id).await;

    let (status, body) = api.get(&path("/databases")).await;
    assert_eq!(status, 200);
    assert_eq!(body["databases"], serde_json::json!([{"name": "shop"}]));
    let (status, body) = api.get(&path("/users")).await;
    assert_eq!(status, 200);
    assert_eq!(body["users"][0]["name"], "app");
    assert_eq!(body["users"][0]["databases"], serde_json::json!([{"name": "shop"}]));

    let (status, _) = api
        .send(
            "POST",
            &path("/databases"),
            Some(r#"{"databases": [{"name": "other"}]}"#),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = api
        .send(
            "POST",
            &path("/users"),
            Some(r#"{"users": [{"name": "r", "password": "p"}]}"#),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = api
        .send(
            "PUT",
            &path("/users/r/databases"),
            Some(r#"{"databases": [{"name": "other"}]}"#),
        )
        .await;
    assert_eq!(status, 202);
    let (_, body) = api.get(&path("/users/r%40%25/databases")).await;
    assert_eq!(
        body["databases"],
        serde_json::json!([{"name": "other"}]),
        "name@host addressing"
    );
    let (status, _) = api.send("DELETE", &path("/users/r/databases/other"), None).await;
    assert_eq!(status, 202);
    let (status, _) = api
        .send("PUT", &path("/users/r"), Some(r#"{"user": {"password": "new"}}"#))
        .await;
    assert_eq!(status, 202);
    let (status, root) = api.send("POST", &path("/root"), None).await;
    assert_eq!(status, 200);
    assert_eq!(root["user"]["name"], "root");
    let (_, shown) = api.get(&path("/root")).await;
    assert_eq!(shown["rootEnabled"], true);
    let (status, _) = api.send("DELETE", &path("/root"), None).await;
    assert_eq!(status, 204);

    let cases: Vec<(&str, String, Option<&str>, u16)> = vec![
        (
            "POST",
            path("/users"),
            Some(r#"{"users": [{"name": "root", "password": "p"}]}"#),
            400,
        ),
        (
            "POST",
            path("/users"),
            Some(r#"{"users": [{"name": "os_admin", "password": "p"}]}"#),
            400,
        ),
        (
            "POST",
            path("/users"),
            Some(r#"{"users": [{"name": "has space", "password": "p"}]}"#),
            400,
        ),
        (
            "POST",
            path("/users"),
            Some(r#"{"users": [{"name": "app", "password": "p"}]}"#),
            400,
        ),
        ("POST", path("/users"), Some(r#"{"users": [{"name": "n"}]}"#), 400),
        ("POST", path("/users"), Some(r#"{"users": "nobody"}"#), 400),
        (
            "POST",
            path("/users"),
            Some(r#"{"users": [{"name": "x", "password": "p", "databases": [{"name": "nope"}]}]}"#),
            400,
        ),
        (
            "POST",
            path("/databases"),
            Some(r#"{"databases": [{"name": "shop"}]}"#),
            400,
        ),
        ("POST", path("/databases"), Some(r#"{"databases": [{"name": 7}]}"#), 400),
        (
            "POST",
            path("/databases"),
            Some(r#"{"databases": [{"name": "a"}, {"name": "a"}]}"#),
            400,
        ),
        ("DELETE", path("/databases/os_admin"), None, 400),
        ("DELETE", path("/databases/nope"), None, 404),
        ("DELETE", path("/users/nobody"), None, 404),
        ("GET", path("/users/nobody"), None, 404),
        (
            "PUT",
            path("/users/app/databases"),
            Some(r#"{"databases": [{"name": "nope"}]}"#),
            404,
        ),
        (
            "GET",
            "/instances/00000000-0000-0000-0000-000000000000/users".into(),
            None,
            404,
        ),
        (
            "GET",
            "/instances/00000000-0000-0000-0000-000000000000/databases".into(),
            None,
            404,
        ),
    ];
    for (method, url, body, want) in cases {
        let (status, resp) = api.send(method, &url, body).await;
        assert_fault(status, &resp, want, &format!("{method} {url} {body:?}"));
    }
    let (_, users) = api.get(&path("/users")).await;
    let names: Vec<&str> = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, vec!["app", "r"], "refused requests changed nothing");
}
both_backends!(accounts_on_a_simulated_instance);
