//! The end-to-end path through every component: API → bus → task manager → compute → guest →
//! conductor → database, and back out through the API.

use crate::both_backends;
use crate::support::{eventually, Backend, TestApp};
use std::time::Duration;

async fn create_restart_delete(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(400);
        // The restart's first step fails once and is retried after the back-off, so REBOOT is
        // there to be seen however fast the simulated guest restarts.
        c.testing.enabled = true;
        c.testing.fail_at = "restart:0:error".into();
        c.taskmanager.retry_backoff_ms = std::time::Duration::from_millis(300);
    })
    .await;
    let api = &app.api;
    let id = api.create("lifecycle").await;

    let building = api.instance(&id).await.expect("listed right after create");
    assert_eq!(building["status"], "BUILD");
    assert_eq!(building["operating_status"], "");

    let active = api.wait_active(&id).await;
    assert_eq!(active["datastore"]["type"], "simulated");
    assert_eq!(active["volume"]["size"], 1);
    assert!(
        active["volume"]["used"].is_number(),
        "show asks the guest for volume usage: {active}"
    );
    assert_eq!(
        api.actors("guest_session").await,
        vec![id.clone()],
        "one guest session while the instance lives"
    );

    let (list_status, list) = api.get("/instances").await;
    assert_eq!(list_status, 200);
    assert_eq!(list["instances"][0]["id"], id.as_str());
    assert_eq!(list["instances"][0]["status"], "ACTIVE");
    assert!(
        list["instances"][0].get("created").is_none(),
        "the list has the list's keys: {list}"
    );
    // Trove's detail list: the list's entries with the show view's times and version number
    // (but not the guest's volume usage).
    let (detail_status, detail) = api.get("/instances/detail").await;
    assert_eq!(detail_status, 200, "{detail}");
    let entry = &detail["instances"][0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["created"], active["created"], "{entry}");
    assert_eq!(
        entry["datastore"]["version_number"],
        active["datastore"]["version_number"]
    );
    assert!(entry["service_status_updated"].is_string(), "{entry}");
    assert!(entry["volume"].get("used").is_none(), "no guest call: {entry}");

    let (status, _) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 202);
    let rebooting = api.instance(&id).await.expect("exists");
    assert_eq!(
        rebooting["status"], "REBOOT",
        "restart shows REBOOT until the guest is back: {rebooting}"
    );
    api.wait_active(&id).await;
    let restart_flow = api
        .flows(&id)
        .await
        .into_iter()
        .find(|f| f.0 == "restart")
        .expect("a restart flow");
    assert_eq!(restart_flow.2, "done");

    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
    eventually(
        Duration::from_secs(10),
        "the guest session ends with its instance",
        || async {
            api.actors("guest_session")
                .await
                .is_empty()
                .then_some(())
                .ok_or("not yet")
        },
    )
    .await;
    // The delete's flow records its end just after the rows it forgets (the instance is gone
    // a moment before): every flow ends, and ends done.
    eventually(Duration::from_secs(10), "every flow finished, done", || async {
        let flows = api.flows(&id).await;
        flows.iter().all(|f| f.2 == "done").then_some(()).ok_or(flows)
    })
    .await;
    let (_, list) = api.get("/instances").await;
    assert_eq!(list["instances"].as_array().map(Vec::len), Some(0));
}
both_backends!(create_restart_delete);

async fn delete_during_build(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(3_000)
    })
    .await;
    let api = &app.api;
    let id = api.create("doomed").await;
    // Wait until the build has allocated its server, then delete mid-build.
    eventually(Duration::from_secs(10), "a guest session is started", || async {
        (!api.actors("guest_session").await.is_empty())
            .then_some(())
            .ok_or("not yet")
    })
    .await;
    assert_eq!(api.instance(&id).await.expect("exists")["status"], "BUILD");
    let (status, body) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202, "DELETE during BUILD is accepted: {body}");
    api.wait_gone(&id).await;
    eventually(
        Duration::from_secs(10),
        "nothing the build allocated remains",
        || async {
            (api.actors("guest_session").await.is_empty() && api.actors("instance").await.is_empty())
                .then_some(())
                .ok_or("not yet")
        },
    )
    .await;
    let flows = api.flows(&id).await;
    assert!(flows.iter().any(|f| f.0 == "create" && f.2 == "cancelled"), "{flows:?}");
    assert!(flows.iter().any(|f| f.0 == "delete" && f.2 == "done"), "{flows:?}");
}
both_backends!(delete_during_build);

async fn catalog_and_pagination(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let (status, versions) = api.get("").await; // the root, not the tenant scope
    assert_eq!(status, 200);
    assert_eq!(versions["versions"][0]["status"], "CURRENT");
    let (_, flavors) = api.get("/flavors").await;
    assert!(flavors["flavors"].as_array().is_some_and(|f| f.len() >= 4));
    let (status, small) = api.get("/flavors/small").await;
    assert_eq!(status, 200);
    assert_eq!(small["flavor"]["id"], serde_json::Value::Null);
    assert_eq!(small["flavor"]["str_id"], "small");
    let (status, ds) = api.get("/datastores/simulated").await;
    assert_eq!(status, 200);
    let default = ds["datastore"]["default_version"].as_str().expect("default version");
    assert!(ds["datastore"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .any(|v| v["id"] == default));
    let (status, _) = api.get("/datastores/simulated/versions").await;
    assert_eq!(status, 200);

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(api.create(&format!("page-{i}")).await);
    }
    let (_, first) = api.get("/instances?limit=2").await;
    let page: Vec<_> = first["instances"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0], ids[4].as_str(), "newest first");
    let next = first["links"][0]["href"].as_str().expect("a next link");
    assert!(next.contains("marker="), "{next}");
    let mut seen = page;
    let mut marker = seen.last().and_then(|v| v.as_str()).map(str::to_string);
    while let Some(m) = marker {
        let (_, body) = api.get(&format!("/instances?limit=2&marker={m}")).await;
        let items = body["instances"].as_array().expect("list").clone();
        seen.extend(items.iter().map(|i| i["id"].clone()));
        marker = body
            .get("links")
            .and(items.last())
            .and_then(|i| i["id"].as_str())
            .map(str::to_string);
    }
    assert_eq!(seen.len(), 5, "every instance exactly once across pages");
}
both_backends!(catalog_and_pagination);

async fn build_past_its_deadline_fails_and_releases(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(120_000);
        c.taskmanager.usage_timeout_s = std::time::Duration::from_secs_f64(1.5);
    })
    .await;
    let api = &app.api;
    let id = api.create("too-slow").await;
    let failed = api
        .wait_for(&id, Duration::from_secs(20), "ERROR", |v| {
            v.is_some_and(|v| v["status"] == "ERROR")
        })
        .await
        .expect("still listed");
    assert!(
        failed["fault"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("timed out")),
        "a fault says why: {failed}"
    );
    eventually(
        Duration::from_secs(10),
        "the failed build releases its server",
        || async {
            let sessions = api.actors("guest_session").await;
            if sessions.is_empty() {
                Ok(())
            } else {
                Err(sessions)
            }
        },
    )
    .await;
    let flows = api.flows(&id).await;
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].2, "failed", "{flows:?}");
    // An instance in error can still be deleted.
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
}
both_backends!(build_past_its_deadline_fails_and_releases);

async fn metrics_describe_the_node(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let id = app.api.create("measured").await;
    app.api.wait_active(&id).await;
    let mut resp = awc::Client::default()
        .get(format!("{}/metrics", app.api.root))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = String::from_utf8(resp.body().await.expect("body").to_vec()).expect("utf-8");
    for line in [
        "coffer_actors_alive{kind=\"guest_session\"} 1",
        "coffer_actors_alive{kind=\"conductor\"} 1",
        "coffer_flows{state=\"done\"} 1",
        "coffer_actor_restarts_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    let applied = text
        .lines()
        .find_map(|l| l.strip_prefix("coffer_heartbeats_applied_total "))
        .and_then(|v| v.parse::<i64>().ok())
        .expect("heartbeat counter");
    assert!(applied >= 1, "{text}");
    assert!(text.contains("coffer_heartbeat_lag_seconds "), "{text}");
}
both_backends!(metrics_describe_the_node);
