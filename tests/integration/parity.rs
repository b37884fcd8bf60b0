//! Trove parity (issue 13): what Trove's clients and test suites rely on beyond the basics —
//! here the admin scope (an admin acts on any project's instance through its own project's URL
//! and through `/mgmt/instances/{id}`; everyone else still gets 404 for another project's);
//! users' rename/host/password in [`users`]; guest logs in [`logs`]; root, isolated per
//! instance, in [`root`].

mod logs;
mod root;
mod updates;
mod users;

use crate::both_backends;
use crate::identity::{add_user, api_as, keystone_app, ADMIN_PASSWORD};
use crate::support::Backend;
use serde_json::json;

async fn admin_acts_on_any_projects_instance(backend: Backend) {
    let app = keystone_app(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(100)
    })
    .await;
    let alpha = add_user(&app, "alpha", "alice", "pw-a", "member").await;
    add_user(&app, "beta", "bob", "pw-b", "member").await;
    let alice = api_as(&app, "alice", "pw-a", "alpha").await;
    let bob = api_as(&app, "bob", "pw-b", "beta").await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    let id = alice.create("alices").await;
    alice.wait_active(&id).await;

    // Through the admin's own project's URL.
    let (status, view) = admin.get(&format!("/instances/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["instance"]["tenant_id"], alpha.as_str(), "{view}");
    let (status, dbs) = admin
        .send(
            "POST",
            &format!("/instances/{id}/databases"),
            Some(r#"{"databases": [{"name": "by_admin"}]}"#),
        )
        .await;
    assert_eq!(status, 202, "{dbs}");
    let (status, listed) = alice.get(&format!("/instances/{id}/databases")).await;
    assert_eq!(status, 200);
    assert!(listed["databases"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["name"] == "by_admin")));
    let (status, backup) = admin
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "b", "instance": id}}).to_string()),
        )
        .await;
    assert_eq!(status, 202, "{backup}");
    let backup_id = backup["backup"]["id"].as_str().expect("backup id").to_string();
    let (status, seen) = alice.get(&format!("/backups/{backup_id}")).await;
    assert_eq!(status, 200, "the backup is the instance's project's: {seen}");
    let (status, _) = admin.get(&format!("/backups/{backup_id}")).await;
    assert_eq!(status, 200, "the admin reads it through its own URL");

    // Another member still gets 404, on every spelling of the resource.
    for path in [
        format!("/instances/{id}"),
        format!("/instances/{id}/databases"),
        format!("/backups/{backup_id}"),
    ] {
        assert_eq!(bob.get(&path).await.0, 404, "{path}");
    }
    assert_eq!(bob.send("DELETE", &format!("/instances/{id}"), None).await.0, 404);

    // /mgmt/instances/{id}.
    let (status, view) = admin.get(&format!("/mgmt/instances/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["instance"]["id"], id.as_str());
    let act = |body: &'static str| {
        let (admin, id) = (admin.clone(), id.clone());
        async move {
            admin
                .send("POST", &format!("/mgmt/instances/{id}/action"), Some(body))
                .await
        }
    };
    assert_eq!(act(r#"{"reset-task-status": {}}"#).await.0, 202);
    assert_eq!(act(r#"{"nonsense": {}}"#).await.0, 400);
    assert_eq!(act(r#"{"reset-task-status": {}, "rebuild": {}}"#).await.0, 400);
    assert_eq!(act(r#"[1]"#).await.0, 400);
    assert_eq!(admin.get("/mgmt/instances/no-such-id").await.0, 404);
    assert_eq!(alice.get(&format!("/mgmt/instances/{id}")).await.0, 403);

    // The compute view: admins only, Nova's shapes and faults; the server follows a resize.
    let server = view["instance"]["server_id"].as_str().expect("server id").to_string();
    let (status, servers) = admin.get("compute/v2.1/servers/detail").await;
    assert_eq!(status, 200, "{servers}");
    let listed = servers["servers"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == server.as_str()))
        .cloned();
    let listed = listed.expect("the instance's server is listed");
    assert_eq!(
        (listed["name"].clone(), listed["status"].clone()),
        (json!("alices"), json!("ACTIVE"))
    );
    assert_eq!(listed["flavor"]["id"], "1", "{listed}");
    let (status, _) = alice
        .send(
            "POST",
            &format!("/instances/{id}/action"),
            Some(r#"{"resize": {"flavorRef": "2"}}"#),
        )
        .await;
    assert_eq!(status, 202);
    alice.wait_active(&id).await;
    let (status, shown) = admin.get(&format!("compute/v2.1/servers/{server}")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["server"]["flavor"]["id"], "2",
        "the flavor follows the resize: {shown}"
    );
    let (status, flavors) = admin.get("compute/v2.1/flavors/detail").await;
    assert_eq!(status, 200);
    assert!(flavors["flavors"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["id"] == "2" && f["ram"].is_number())));
    let (status, missing) = admin.get("compute/v2.1/servers/no-such-server").await;
    assert_eq!(status, 404);
    assert!(missing["itemNotFound"]["message"].is_string(), "{missing}");
    let (status, refused) = alice.get("compute/v2.1/servers").await;
    assert_eq!(status, 403);
    assert!(refused["forbidden"]["message"].is_string(), "{refused}");
    let anonymous = crate::support::Api::new(&admin.root);
    assert_eq!(anonymous.get("compute/v2.1/servers").await.0, 401);
    assert_eq!(admin.send("POST", "compute/v2.1/servers", Some("{}")).await.0, 405);

    // reset_status and delete through the admin's URL; the quota given back is alpha's.
    let (status, _) = admin
        .send(
            "POST",
            &format!("/instances/{id}/action"),
            Some(r#"{"reset_status": {}}"#),
        )
        .await;
    assert_eq!(status, 202);
    alice.wait_active(&id).await;
    let (status, _) = admin.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    alice.wait_gone(&id).await;
    let (status, quotas) = alice.get(&format!("/mgmt/quotas/{alpha}")).await;
    assert_eq!(status, 200, "{quotas}");
    let instances = quotas["quotas"]
        .as_array()
        .and_then(|q| q.iter().find(|r| r["resource"] == "instances"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(instances["in_use"], 0, "alpha's quota is given back: {quotas}");
}
both_backends!(admin_acts_on_any_projects_instance);

/// `PUT`/`PATCH /instances/{id}`: a rename, access rules, an upgrade, and an admin's rebuild on a
/// simulated instance; the attributes that need what coffer does not have yet are answered as
/// Trove answers them for an instance without them.
async fn instances_are_updated_as_trove_updates_them(backend: Backend) {
    let app = crate::support::TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(100)
    })
    .await;
    let api = &app.api;
    let id = api.create("before").await;
    api.wait_active(&id).await;
    let put = |method: &'static str, body: serde_json::Value| {
        let (api, id) = (api.clone(), id.clone());
        async move {
            api.send(method, &format!("/instances/{id}"), Some(&body.to_string()))
                .await
                .0
        }
    };
    assert_eq!(put("PUT", json!({"instance": {"name": "after"}})).await, 202);
    assert_eq!(api.instance(&id).await.expect("view")["name"], "after");
    assert_eq!(put("PATCH", json!({"instance": {"name": "patched"}})).await, 202);
    assert_eq!(api.instance(&id).await.expect("view")["name"], "patched");
    assert_eq!(
        put("PUT", json!({"instance": {}})).await,
        202,
        "an empty update detaches nothing"
    );
    assert_eq!(
        put("PUT", json!({"instance": {"replica_of": null}})).await,
        400,
        "not a replica"
    );
    assert_eq!(
        put("PUT", json!({"instance": {"configuration": "no-such-group"}})).await,
        404
    );
    assert_eq!(put("PUT", json!({"instance": {"name": ""}})).await, 400);
    assert_eq!(put("PUT", json!({"instance": {"name": 7}})).await, 400);
    assert_eq!(put("PUT", json!({"instance": {"bogus": 1}})).await, 400);
    assert_eq!(
        put("PUT", json!({"instance": {"replica_of": null, "configuration": null}})).await,
        400
    );
    assert_eq!(put("PUT", json!({"nothing": {}})).await, 400);
    assert_eq!(
        api.instance(&id).await.expect("view")["name"],
        "patched",
        "bad updates change nothing"
    );
    let (status, _) = api
        .send("PUT", "/instances/no-such-id", Some(r#"{"instance": {"name": "x"}}"#))
        .await;
    assert_eq!(status, 404);

    // Access: bad rules change nothing; good ones are recorded once the guest applied them.
    for bad in [
        json!({"allowed_cidrs": ["10.0.0.0/33"]}),
        json!({"allowed_cidrs": "10.0.0.0/8"}),
        json!({"is_public": "yes"}),
        json!({"open": true}),
        json!([]),
    ] {
        assert_eq!(put("PUT", json!({"instance": {"access": bad}})).await, 400, "{bad}");
    }
    let access = json!({"is_public": true, "allowed_cidrs": ["10.0.0.0/8", "192.168.1.7"]});
    assert_eq!(
        put("PUT", json!({"instance": {"name": "ruled", "access": access}})).await,
        202
    );
    let view = api.wait_active(&id).await;
    assert_eq!(view["access"], access);
    assert_eq!(view["name"], "ruled");

    // Upgrade: an unknown or wrongly typed version is refused; the installed one runs the flow
    // and the server's own version is reported.
    for bad in [json!("9.9"), json!(7), json!(""), json!(null)] {
        assert_eq!(
            put("PATCH", json!({"instance": {"datastore_version": bad}})).await,
            400,
            "{bad}"
        );
    }
    let version = view["datastore"]["version"].clone();
    assert_eq!(
        put("PATCH", json!({"instance": {"datastore_version": version}})).await,
        202
    );
    let view = api.wait_active(&id).await;
    assert_eq!(view["datastore"]["version_number"], "1.0.0", "{view}");

    // An admin's rebuild: the image id is a UUID; unknown instances are 404.
    let act = |target: &str, body: serde_json::Value| {
        let (api, path) = (api.clone(), format!("/mgmt/instances/{target}/action"));
        async move { api.send("POST", &path, Some(&body.to_string())).await.0 }
    };
    assert_eq!(act(&id, json!({"rebuild": {}})).await, 400);
    assert_eq!(act(&id, json!({"rebuild": {"image_id": 5}})).await, 400);
    let image = json!({"rebuild": {"image_id": uuid::Uuid::new_v4().to_string()}});
    assert_eq!(act("no-such-id", image.clone()).await, 404);
    assert_eq!(act(&id, image.clone()).await, 202);
    assert_eq!(act(&id, image).await, 422, "one action at a time");
    api.wait_active(&id).await;
    let flows = api.flows(&id).await;
    for kind in ["update_access", "upgrade", "rebuild"] {
        assert!(
            flows.iter().any(|(k, _, s)| k == kind && s == "done"),
            "{kind}: {flows:?}"
        );
    }
}
both_backends!(instances_are_updated_as_trove_updates_them);

/// A create's `access` is shown as it was given, partial or with `null` values, in the show view
/// and in the list alike; without one an instance is private with no rules.
async fn access_is_shown_as_created(backend: Backend) {
    let app = crate::support::TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let given = [
        Some(json!({"allowed_cidrs": null, "is_public": true})),
        Some(json!({"is_public": true})),
        Some(json!({"allowed_cidrs": ["10.2.0.0/16"]})),
        Some(json!({"is_public": null, "allowed_cidrs": []})),
        None,
    ];
    let mut created = Vec::new();
    for (n, access) in given.iter().enumerate() {
        let mut body = json!({"instance": {"name": format!("access-{n}"), "flavorRef": "1",
            "volume": {"size": 1}, "datastore": {"type": "simulated", "version": "1"}}});
        if let Some(access) = access {
            body["instance"]["access"] = access.clone();
        }
        let (status, answer) = api.send("POST", "/instances", Some(&body.to_string())).await;
        assert_eq!(status, 200, "{body}: {answer}");
        let id = answer["instance"]["id"].as_str().expect("id").to_string();
        let shown = access
            .clone()
            .unwrap_or(json!({"is_public": false, "allowed_cidrs": []}));
        created.push((id, shown));
    }
    let (status, list) = api.get("/instances").await;
    assert_eq!(status, 200, "{list}");
    for (id, shown) in &created {
        let view = api.instance(id).await.expect("view");
        assert_eq!(&view["access"], shown, "show view of {id}");
        let listed = list["instances"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["id"] == id.as_str()))
            .expect("listed");
        assert_eq!(&listed["access"], shown, "list view of {id}");
    }
}
both_backends!(access_is_shown_as_created);
