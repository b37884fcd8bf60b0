//! What a group may not do, and who may do what with it: memory within the flavor (at attach,
//! a change of the group, a create, a resize), another project's groups out of reach, the
//! instance update's PUT and PATCH doing only what they name, and the admin's catalog.

use super::{attach, create_group, wait_configured};
use crate::both_backends;
use crate::support::{Backend, TestApp};
use serde_json::json;
use std::time::Duration;

/// A group gives a server no more memory than its flavor pays for (at attach, a change of the
/// group, a create and a resize), and admins manage the catalog; what coffer keeps stays out.
async fn flavors_bound_memory_and_admins_manage_the_catalog(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let small = api.create("small-one").await; // m1.tiny: 512 MB
    api.wait_active(&small).await;
    // 100000 × 8 kB ≈ 781 MB of shared_buffers: more than m1.tiny's 512 MB.
    let big = create_group(
        api,
        "big",
        json!({"type": "simulated"}),
        json!({"shared_buffers": 100000}),
    )
    .await;
    let body = json!({"instance": {"configuration": big["id"]}});
    let (status, answer) = api
        .send("PUT", &format!("/instances/{small}"), Some(&body.to_string()))
        .await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["unprocessableEntity"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("shared_buffers") && message.contains("m1.tiny"),
        "{answer}"
    );
    assert!(api.instance(&small).await.expect("view").get("configuration").is_none());
    let create = json!({"instance": {"name": "x", "flavorRef": "1", "datastore": {"type": "simulated"},
        "configuration": big["id"]}});
    assert_eq!(api.send("POST", "/instances", Some(&create.to_string())).await.0, 422);
    // A group that fits, attached; then a change that would not fit is refused whole.
    let fits = create_group(
        api,
        "fits",
        json!({"type": "simulated"}),
        json!({"shared_buffers": 4096}),
    )
    .await;
    let gid = fits["id"].as_str().expect("id").to_string();
    attach(api, &small, &gid).await;
    wait_configured(api, &small, Duration::from_secs(20)).await;
    let patch = json!({"configuration": {"values": {"shared_buffers": 100000, "work_mem": 64}}});
    let (status, answer) = api
        .send("PATCH", &format!("/configurations/{gid}"), Some(&patch.to_string()))
        .await;
    assert_eq!(status, 422, "{answer}");
    let (_, shown) = api.get(&format!("/configurations/{gid}")).await;
    assert_eq!(
        shown["configuration"]["values"],
        json!({"shared_buffers": 4096}),
        "nothing changed"
    );

    // The admin's catalog: a parameter of its own, shown to users; coffer's own stay out.
    let admin = api; // noauth: the caller is an admin (/mgmt's guard is tested in hardening)
    let vid = fits["datastore_version_id"].as_str().expect("version").to_string();
    let mgmt = format!("/mgmt/datastores/versions/{vid}/parameters");
    let body = json!({"configuration-parameter": {"name": "cpu_tuple_cost", "data_type": "float",
        "restart_required": 0, "min_size": "0", "max_size": "10"}});
    let (status, made) = admin.send("POST", &mgmt, Some(&body.to_string())).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["max_size"], json!(10), "{made}");
    let (status, one) = api
        .get(&format!("/datastores/versions/{vid}/parameters/cpu_tuple_cost"))
        .await;
    assert_eq!((status, one["restart_required"].clone()), (200, json!(false)), "{one}");
    let (status, refused) = admin
        .send(
            "POST",
            &mgmt,
            Some(
                &json!({"configuration-parameter": {"name": "port", "data_type": "integer",
            "restart_required": 1, "min_size": 1, "max_size": 65535}})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let bad_int =
        json!({"configuration-parameter": {"name": "geqo_threshold", "data_type": "integer", "restart_required": 0}});
    assert_eq!(admin.send("POST", &mgmt, Some(&bad_int.to_string())).await.0, 400);
    assert_eq!(
        admin.send("DELETE", &format!("{mgmt}/cpu_tuple_cost"), None).await.0,
        204
    );
    assert_eq!(
        api.get(&format!("/datastores/versions/{vid}/parameters/cpu_tuple_cost"))
            .await
            .0,
        404
    );
    assert_eq!(
        admin.send("DELETE", &format!("{mgmt}/cpu_tuple_cost"), None).await.0,
        400
    );
    // A deleted builtin parameter is withdrawn until an admin puts it back.
    assert_eq!(admin.send("DELETE", &format!("{mgmt}/work_mem"), None).await.0, 204);
    let group = json!({"configuration": {"name": "w", "datastore": {"type": "simulated"}, "values": {"work_mem": 64}}});
    assert_eq!(
        api.send("POST", "/configurations", Some(&group.to_string())).await.0,
        422
    );
}
both_backends!(flavors_bound_memory_and_admins_manage_the_catalog);

async fn groups_stay_in_their_project_and_updates_do_what_they_name(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let id = api.create("plain").await;
    api.wait_active(&id).await;
    let t2 = api.as_project("t2", "any");
    let theirs = create_group(&t2, "theirs", json!({"type": "simulated"}), json!({"work_mem": 4096})).await;
    let body = json!({"instance": {"configuration": theirs["id"]}});
    let (status, answer) = api
        .send("PUT", &format!("/instances/{id}"), Some(&body.to_string()))
        .await;
    assert_eq!(status, 404, "another project's group is not found: {answer}");
    let create = json!({"instance": {"name": "x", "flavorRef": "1", "datastore": {"type": "simulated"},
        "configuration": theirs["id"]}});
    assert_eq!(api.send("POST", "/instances", Some(&create.to_string())).await.0, 404);
    assert_eq!(
        t2.get(&format!(
            "/configurations/{}/instances",
            theirs["id"].as_str().unwrap_or_default()
        ))
        .await
        .0,
        200
    );

    let mine = create_group(api, "mine", json!({"type": "simulated"}), json!({"work_mem": 4096})).await;
    let gid = mine["id"].as_str().expect("id").to_string();
    attach(api, &id, &gid).await;
    wait_configured(api, &id, Duration::from_secs(20)).await;
    // A rename (PUT or PATCH) and an empty PATCH keep the group.
    for (method, body) in [
        ("PUT", json!({"instance": {"name": "renamed"}})),
        ("PATCH", json!({"instance": {}})),
        ("PATCH", json!({"instance": {"name": "again"}})),
    ] {
        assert_eq!(
            api.send(method, &format!("/instances/{id}"), Some(&body.to_string()))
                .await
                .0,
            202
        );
        let view = wait_configured(api, &id, Duration::from_secs(20)).await;
        assert_eq!(view["configuration"]["id"], gid.as_str(), "{method} {body}: {view}");
    }
    // PATCH with configuration null detaches.
    let body = json!({"instance": {"configuration": null}});
    assert_eq!(
        api.send("PATCH", &format!("/instances/{id}"), Some(&body.to_string()))
            .await
            .0,
        202
    );
    let view = wait_configured(api, &id, Duration::from_secs(20)).await;
    assert!(view.get("configuration").is_none(), "{view}");
    // A resize to a flavor too small for the group's memory is refused.
    let big = create_group(
        api,
        "big-ok",
        json!({"type": "simulated"}),
        json!({"shared_buffers": 100000}),
    )
    .await;
    let body = json!({"instance": {"name": "roomy", "flavorRef": "2", "volume": {"size": 1},
        "datastore": {"type": "simulated"}, "configuration": big["id"]}});
    let (status, created) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "m1.small holds 781 MB of shared_buffers: {created}");
    let roomy = created["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&roomy).await;
    let resize = json!({"resize": {"flavorRef": "1"}});
    let (status, answer) = api
        .send("POST", &format!("/instances/{roomy}/action"), Some(&resize.to_string()))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["unprocessableEntity"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("shared_buffers"),
        "{answer}"
    );
}
both_backends!(groups_stay_in_their_project_and_updates_do_what_they_name);
