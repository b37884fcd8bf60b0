//! The refusals of replication's API, with Trove's fault bodies; nothing is stored by a refusal.

use super::{action, replicas, source};
use crate::support::{Api, Backend, TestApp};
use serde_json::{json, Value};

async fn create_replica(api: &Api, body: Value) -> (u16, Value) {
    api.send("POST", "/instances", Some(&json!({ "instance": body }).to_string()))
        .await
}

fn fault(body: &Value, key: &str) -> String {
    body[key]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("a {key} fault body: {body}"))
        .to_string()
}

async fn count(api: &Api) -> usize {
    let (_, list) = api.get("/instances").await;
    list["instances"].as_array().map_or(0, Vec::len)
}

#[actix_web::test]
async fn replication_refusals_have_trove_fault_bodies() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (src, _) = source(api, "postgresql").await;
    let ids = replicas(api, &src, 1).await;
    let before = count(api).await;

    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"name": "r", "replica_of": "no-such-instance"}),
            404,
            "itemNotFound",
        ),
        (json!({"name": "r", "replica_of": "../../etc"}), 404, "itemNotFound"),
        (json!({"name": "r", "replica_of": 42}), 400, "badRequest"),
        (json!({"name": "r", "replica_of": "x".repeat(5000)}), 400, "badRequest"),
        (
            json!({"name": "r", "replica_of": src, "replica_count": 0}),
            400,
            "badRequest",
        ),
        (
            json!({"name": "r", "replica_of": src, "replica_count": 4}),
            400,
            "badRequest",
        ),
        (
            json!({"name": "r", "replica_of": src, "replica_count": "many"}),
            400,
            "badRequest",
        ),
        (
            json!({"name": "r", "flavorRef": "1", "replica_count": 2}),
            400,
            "badRequest",
        ),
        (json!({"name": "r", "replica_of": ids[0]}), 401, "unauthorized"),
        (
            json!({"name": "r", "replica_of": src, "volume": {"size": 0}}),
            400,
            "badRequest",
        ),
        (
            json!({"name": "r", "replica_of": src, "databases": [{"name": "d"}]}),
            400,
            "badRequest",
        ),
        (
            json!({"name": "r", "replica_of": src, "users": [{"name": "u", "password": "p"}]}),
            400,
            "badRequest",
        ),
    ];
    for (body, status, key) in cases {
        let (got, answer) = create_replica(api, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        fault(&answer, key);
    }
    // Another project's source does not exist for this one.
    let t2 = api.as_project("t2", "any");
    let (got, answer) = create_replica(&t2, json!({"name": "r", "replica_of": src})).await;
    assert_eq!(got, 404, "{answer}");
    fault(&answer, "itemNotFound");
    let (got, answer) = action(&t2, &ids[0], json!({"promote_to_replica_source": {}})).await;
    assert_eq!(got, 404, "{answer}");

    // A replica's accounts are its source's: they change there.
    for (path, body) in [
        ("users", json!({"users": [{"name": "u2", "password": "pw"}]})),
        ("databases", json!({"databases": [{"name": "d2"}]})),
    ] {
        let url = format!("/instances/{}/{path}", ids[0]);
        let (got, answer) = api.send("POST", &url, Some(&body.to_string())).await;
        assert_eq!(got, 400, "{path} on a replica: {answer}");
        assert!(fault(&answer, "badRequest").contains("replica"), "{answer}");
    }
    let (got, answer) = api.send("POST", &format!("/instances/{}/root", ids[0]), None).await;
    assert_eq!(got, 400, "root on a replica: {answer}");

    // Actions on the wrong member.
    let (got, answer) = action(api, &src, json!({"promote_to_replica_source": {}})).await;
    assert_eq!(got, 400, "promote a source: {answer}");
    assert!(fault(&answer, "badRequest").contains("not a replica"), "{answer}");
    for id in [&src, &ids[0]] {
        let (got, answer) = action(api, id, json!({"eject_replica_source": {}})).await;
        assert_eq!(got, 400, "eject with a healthy source: {answer}");
        assert!(fault(&answer, "badRequest").contains("heartbeat"), "{answer}");
    }
    let (got, answer) = api
        .send(
            "PUT",
            &format!("/instances/{src}"),
            Some(r#"{"instance": {"replica_of": null}}"#),
        )
        .await;
    assert_eq!(got, 400, "detach a source: {answer}");
    fault(&answer, "badRequest");
    let (got, answer) = api.send("DELETE", &format!("/instances/{src}"), None).await;
    assert_eq!(got, 403, "delete a source with replicas: {answer}");
    fault(&answer, "forbidden");

    // Nothing was stored, nothing changed.
    assert_eq!(count(api).await, before);
    let view = api.instance(&src).await.expect("source");
    assert_eq!(view["status"], "ACTIVE");
    assert_eq!(view["replicas"][0]["id"], ids[0].as_str(), "{view}");
    let view = api.instance(&ids[0]).await.expect("replica");
    assert_eq!(view["status"], "ACTIVE");
    assert_eq!(view["replica_of"]["id"], src.as_str());

    // Deleting the replica first, then the source, works; the source's slot goes with it.
    let (got, _) = api.send("DELETE", &format!("/instances/{}", ids[0]), None).await;
    assert_eq!(got, 202);
    api.wait_gone(&ids[0]).await;
    let view = api.instance(&src).await.expect("source");
    assert!(view.get("replicas").is_none_or(|r| r == &json!([])), "{view}");
    let client = crate::datastores::pg(&crate::datastores::ip_of(&view), "app", "app-pw", "shop")
        .await
        .expect("connect to the source");
    let slots = client
        .query_one("SELECT count(*) FROM pg_replication_slots", &[])
        .await
        .expect("slots");
    assert_eq!(slots.get::<_, i64>(0), 0, "the replica's slot is released");
    let (got, body) = api.send("DELETE", &format!("/instances/{src}"), None).await;
    assert_eq!(got, 202, "{body}");
    api.wait_gone(&src).await;
}

#[actix_web::test]
async fn a_datastore_without_replication_refuses_replicas() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let id = api.create("simulated").await;
    api.wait_active(&id).await;
    let (got, answer) = create_replica(api, json!({"name": "r", "replica_of": id})).await;
    assert_eq!(got, 400, "{answer}");
    assert!(fault(&answer, "badRequest").contains("replication"), "{answer}");
}
