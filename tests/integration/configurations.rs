//! Configuration groups: the catalog, the groups' API in Trove's shapes and codes, attach,
//! change and detach applied by configure flows (RESTART_REQUIRED until a restart), validation
//! on every datastore's catalog, and isolation between projects. The simulated datastore
//! takes PostgreSQL's catalog; `configurations/real.rs` runs the same on real servers.

mod catalog;
mod limits;
mod real;
mod validation;

use crate::both_backends;
use crate::support::{eventually, Api, Backend, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// Creates a group; answers its detailed view.
pub async fn create_group(api: &Api, name: &str, datastore: Value, values: Value) -> Value {
    let body = json!({"configuration": {"name": name, "datastore": datastore, "values": values}});
    let (status, group) = api.send("POST", "/configurations", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{group}");
    group["configuration"].clone()
}

/// Waits until no configure flow of the instance runs, and answers the instance view.
pub async fn wait_configured(api: &Api, id: &str, within: Duration) -> Value {
    eventually(within, "the configure flows end", || async {
        let flows = api.flows(id).await;
        let open: Vec<_> = flows
            .iter()
            .filter(|(kind, _, status)| kind == "configure" && status == "running")
            .collect();
        match open.is_empty() {
            true => Ok(()),
            false => Err(format!("{open:?}")),
        }
    })
    .await;
    let flows = api.flows(id).await;
    let failed: Vec<_> = flows
        .iter()
        .filter(|(k, _, s)| k == "configure" && s != "done")
        .collect();
    assert!(failed.is_empty(), "configure flows that did not end well: {failed:?}");
    api.instance(id).await.expect("the instance")
}

/// [`wait_configured`] for an instance whose earlier configure flow failed: only the newest
/// must have ended well.
pub async fn wait_configured_after_failure(api: &Api, id: &str, within: Duration) {
    eventually(within, "the newest configure flow ends", || async {
        let flows = api.flows(id).await;
        let configure: Vec<_> = flows.iter().filter(|(k, ..)| k == "configure").collect();
        match configure.iter().all(|(_, _, s)| s != "running") {
            true => Ok(()),
            false => Err(format!("{configure:?}")),
        }
    })
    .await;
}

/// The values the instance's server runs with (`GET /instances/{id}/configuration`).
pub async fn effective(api: &Api, id: &str) -> Value {
    let (status, body) = api.get(&format!("/instances/{id}/configuration")).await;
    assert_eq!(status, 200, "{body}");
    body["instance"]["configuration"].clone()
}

pub async fn attach(api: &Api, id: &str, group: &str) {
    let body = json!({"instance": {"configuration": group}});
    let (status, answer) = api
        .send("PUT", &format!("/instances/{id}"), Some(&body.to_string()))
        .await;
    assert_eq!(status, 202, "{answer}");
}

async fn restart(api: &Api, id: &str) -> Value {
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 202, "{body}");
    api.wait_active(id).await
}

async fn the_catalog_and_the_groups_api(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    // The catalog, by datastore and version name and by version id.
    let (status, listed) = api.get("/datastores/simulated/versions/1/parameters").await;
    assert_eq!(status, 200, "{listed}");
    let params = listed["configuration-parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    assert!(params.len() >= 40, "{} parameters", params.len());
    let vid = params[0]["datastore_version_id"]
        .as_str()
        .expect("version id")
        .to_string();
    let (_, by_id) = api.get(&format!("/datastores/versions/{vid}/parameters")).await;
    assert_eq!(
        by_id["configuration-parameters"].as_array().map(Vec::len),
        Some(params.len())
    );
    let (status, one) = api
        .get(&format!("/datastores/versions/{vid}/parameters/shared_buffers"))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (
            one["name"].clone(),
            one["restart_required"].clone(),
            one["type"].clone()
        ),
        (json!("shared_buffers"), json!(true), json!("integer")),
        "a parameter is shown unwrapped, as Trove does: {one}"
    );
    assert!(one["min"].is_number() && one["max"].is_number(), "{one}");
    assert!(params
        .iter()
        .all(|p| p["name"] != "port" && p["name"] != "data_directory"));
    assert_eq!(api.get("/datastores/simulated/versions/1/parameters/port").await.0, 404);
    assert_eq!(api.get("/datastores/nope/versions/1/parameters").await.0, 404);

    // Create (200, detailed view), list, show.
    let group = create_group(
        api,
        "g1",
        json!({"type": "simulated", "version": "1"}),
        json!({"statement_timeout": 1234, "JIT": false}),
    )
    .await;
    assert_eq!(
        group["values"],
        json!({"statement_timeout": 1234, "jit": false}),
        "{group}"
    );
    assert_eq!(group["instance_count"], 0);
    assert_eq!(group["datastore_version_id"], vid.as_str());
    assert_eq!(group["datastore_name"], "simulated");
    for key in [
        "id",
        "name",
        "created",
        "updated",
        "datastore_version_name",
        "datastore_version_number",
    ] {
        assert!(!group[key].is_null(), "{key}: {group}");
    }
    let gid = group["id"].as_str().expect("id").to_string();
    let (status, list) = api.get("/configurations").await;
    assert_eq!(status, 200);
    assert_eq!(list["configurations"][0]["id"], gid.as_str(), "{list}");
    assert!(
        list["configurations"][0].get("values").is_none(),
        "the list view has no values"
    );
    let (_, shown) = api.get(&format!("/configurations/{gid}")).await;
    assert_eq!(shown["configuration"]["values"], group["values"]);

    // PATCH merges (200), PUT replaces (202).
    let patch = json!({"configuration": {"values": {"work_mem": 8192}}});
    let (status, _) = api
        .send("PATCH", &format!("/configurations/{gid}"), Some(&patch.to_string()))
        .await;
    assert_eq!(status, 200);
    let (_, shown) = api.get(&format!("/configurations/{gid}")).await;
    assert_eq!(
        shown["configuration"]["values"],
        json!({"statement_timeout": 1234, "jit": false, "work_mem": 8192})
    );
    let put = json!({"configuration": {"values": {"work_mem": 4096}, "name": "g1b"}});
    let (status, _) = api
        .send("PUT", &format!("/configurations/{gid}"), Some(&put.to_string()))
        .await;
    assert_eq!(status, 202);
    let (_, shown) = api.get(&format!("/configurations/{gid}")).await;
    assert_eq!(shown["configuration"]["values"], json!({"work_mem": 4096}));
    assert_eq!(shown["configuration"]["name"], "g1b");

    // Another project sees nothing of it.
    let t2 = api.as_project("t2", "any");
    assert_eq!(t2.get(&format!("/configurations/{gid}")).await.0, 404);
    assert_eq!(t2.send("DELETE", &format!("/configurations/{gid}"), None).await.0, 404);
    assert_eq!(
        t2.send("PATCH", &format!("/configurations/{gid}"), Some(&patch.to_string()))
            .await
            .0,
        404
    );
    let (_, theirs) = t2.get("/configurations").await;
    assert_eq!(theirs["configurations"], json!([]), "{theirs}");

    // Bad bodies.
    for body in [
        json!({}),
        json!({"configuration": {"name": "x"}}),
        json!({"configuration": {"name": "x", "values": [1]}}),
        json!({"configuration": {"name": "", "values": {}}}),
        json!({"configuration": {"name": "x\u{7}", "values": {}}}),
    ] {
        let (status, answer) = api.send("POST", "/configurations", Some(&body.to_string())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["badRequest"]["message"].is_string(), "{answer}");
    }
    // Delete (202), then it is gone.
    assert_eq!(api.send("DELETE", &format!("/configurations/{gid}"), None).await.0, 202);
    assert_eq!(api.get(&format!("/configurations/{gid}")).await.0, 404);
}
both_backends!(the_catalog_and_the_groups_api);

async fn attach_patch_detach_with_restart_required(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (a, b) = (api.create("cfg-a").await, api.create("cfg-b").await);
    api.wait_active(&a).await;
    api.wait_active(&b).await;
    let values = json!({"statement_timeout": 1234, "shared_buffers": 4096});
    let group = create_group(api, "tuned", json!({"type": "simulated"}), values).await;
    let gid = group["id"].as_str().expect("id").to_string();

    // Attach: the dynamic value runs at once, the other waits for a restart.
    attach(api, &a, &gid).await;
    let view = wait_configured(api, &a, Duration::from_secs(20)).await;
    assert_eq!(view["status"], "RESTART_REQUIRED", "{view}");
    assert_eq!(view["configuration"]["id"], gid.as_str(), "{view}");
    assert_eq!(view["configuration"]["name"], "tuned");
    assert!(view["configuration"]["links"].is_array(), "{view}");
    let now = effective(api, &a).await;
    assert_eq!(
        (now["statement_timeout"].clone(), now["shared_buffers"].clone()),
        (json!("1234"), json!("default"))
    );
    let view = restart(api, &a).await;
    assert_eq!(view["status"], "ACTIVE");
    let now = effective(api, &a).await;
    assert_eq!(
        (now["statement_timeout"].clone(), now["shared_buffers"].clone()),
        (json!("1234"), json!("4096"))
    );

    // A second instance; then PATCH reaches both.
    attach(api, &b, &gid).await;
    wait_configured(api, &b, Duration::from_secs(20)).await;
    restart(api, &b).await;
    let (_, using) = api.get(&format!("/configurations/{gid}/instances")).await;
    let mut ids: Vec<&str> = using["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want, "{using}");
    let patch = json!({"configuration": {"values": {"statement_timeout": 2345}}});
    assert_eq!(
        api.send("PATCH", &format!("/configurations/{gid}"), Some(&patch.to_string()))
            .await
            .0,
        200
    );
    for id in [&a, &b] {
        let view = wait_configured(api, id, Duration::from_secs(20)).await;
        assert_eq!(view["status"], "ACTIVE", "a dynamic change needs no restart: {view}");
        assert_eq!(effective(api, id).await["statement_timeout"], "2345");
    }
    // Attached: the group stays; attaching a second one is refused.
    let (status, answer) = api.send("DELETE", &format!("/configurations/{gid}"), None).await;
    assert_eq!(status, 422, "{answer}");
    let other = create_group(api, "other", json!({"type": "simulated"}), json!({"work_mem": 4096})).await;
    let body = json!({"instance": {"configuration": other["id"]}});
    let (status, answer) = api
        .send("PUT", &format!("/instances/{a}"), Some(&body.to_string()))
        .await;
    assert_eq!(status, 400, "{answer}");
    // Another project's group, and an unknown one, are not found.
    let t2 = api.as_project("t2", "any");
    let theirs = create_group(&t2, "theirs", json!({"type": "simulated"}), json!({})).await;
    let body = json!({"instance": {"configuration": theirs["id"]}});
    assert_eq!(
        api.send("PUT", &format!("/instances/{b}"), Some(&body.to_string()))
            .await
            .0,
        400,
        "b has one"
    );

    // Detach (null, and the empty PUT): the values return to the defaults.
    let body = json!({"instance": {"configuration": null}});
    assert_eq!(
        api.send("PUT", &format!("/instances/{a}"), Some(&body.to_string()))
            .await
            .0,
        202
    );
    let view = wait_configured(api, &a, Duration::from_secs(20)).await;
    assert!(view.get("configuration").is_none(), "{view}");
    assert_eq!(
        view["status"], "RESTART_REQUIRED",
        "shared_buffers goes back at the restart: {view}"
    );
    assert_eq!(effective(api, &a).await["statement_timeout"], "default");
    restart(api, &a).await;
    assert_eq!(effective(api, &a).await["shared_buffers"], "default");
    assert_eq!(
        api.send("PUT", &format!("/instances/{b}"), Some(r#"{"instance": {}}"#))
            .await
            .0,
        202
    );
    wait_configured(api, &b, Duration::from_secs(20)).await;
    assert_eq!(effective(api, &b).await["statement_timeout"], "default");
    assert_eq!(api.send("DELETE", &format!("/configurations/{gid}"), None).await.0, 202);

    // A group given at create: the server starts with its values.
    let group = create_group(
        api,
        "at-create",
        json!({"type": "simulated"}),
        json!({"shared_buffers": 2048}),
    )
    .await;
    let body = json!({"instance": {"name": "c", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "simulated", "version": "1"}, "configuration": group["id"]}});
    let (status, created) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["instance"]["configuration"]["id"], group["id"], "{created}");
    let c = created["instance"]["id"].as_str().expect("id").to_string();
    assert_eq!(api.wait_active(&c).await["status"], "ACTIVE");
    assert_eq!(effective(api, &c).await["shared_buffers"], "2048");
    let body = json!({"instance": {"name": "d", "flavorRef": "1", "datastore": {"type": "simulated"}, "configuration": "nope"}});
    assert_eq!(api.send("POST", "/instances", Some(&body.to_string())).await.0, 404);
}
both_backends!(attach_patch_detach_with_restart_required);
