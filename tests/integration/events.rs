//! The event stream (`GET /v1.0/{t}/events`): a create followed without polling, another
//! project's stream kept apart, a stream resumed with `Last-Event-ID` after coffer was killed
//! and started again, and a flood of streams refused.

use crate::both_backends;
use crate::support::{eventually, instance_status, Api, Backend, CofferProcess, EventStream, TestApp, TestDb};
use std::time::Duration;

async fn a_stream_follows_a_create_and_resumes_after_a_restart(backend: Backend) {
    let db = TestDb::new(backend);
    let first = CofferProcess::start(&db, &[]).await;
    let root = first.api.root.clone();
    let mine = EventStream::connect(&root, "t1", None).await;
    let theirs = EventStream::connect(&root, "t2", None).await;

    // Connected before the create: BUILD, then ACTIVE, in the order stored.
    let id = first.api.create("watched").await;
    mine.wait_for("the create's ACTIVE", instance_status(&id, "ACTIVE"))
        .await;
    let statuses = mine.statuses_of(&id);
    assert_eq!(statuses.first().map(String::as_str), Some("BUILD"), "{statuses:?}");
    let first_active = statuses.iter().position(|s| s == "ACTIVE");
    assert!(
        statuses[..first_active.unwrap_or(0)].iter().all(|s| s == "BUILD"),
        "BUILD until ACTIVE: {statuses:?}"
    );
    let ids: Vec<i64> = mine.received().iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    let steps: Vec<i64> = mine
        .received()
        .iter()
        .filter(|e| e.kind == "flow" && e.data["flow"]["target_id"] == id.as_str())
        .map(|e| e.data["flow"]["step"].as_i64().unwrap_or(-1))
        .collect();
    assert!(
        steps.len() >= 2 && steps.windows(2).all(|w| w[0] <= w[1]),
        "flow steps: {steps:?}"
    );

    // Another project's stream sees its own create, and nothing of the first.
    let mut other_api = Api::new(&root);
    other_api.base = format!("{root}/v1.0/t2");
    let other = other_api.create("theirs").await;
    theirs
        .wait_for("t2's own ACTIVE", instance_status(&other, "ACTIVE"))
        .await;
    let leaked: Vec<_> = theirs
        .received()
        .into_iter()
        .filter(|e| e.data["project_id"] != "t2" || e.data.to_string().contains(&id))
        .collect();
    assert!(
        leaked.is_empty(),
        "t2's stream got another project's events: {leaked:?}"
    );
    assert!(!mine.received().iter().any(|e| e.data.to_string().contains(&other)));

    // Away: the instance is deleted, and coffer is killed and started again.
    let last_seen = mine.received().last().map(|e| e.id).expect("events received");
    drop(mine);
    let (status, body) = first.api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202, "{body}");
    first.api.wait_gone(&id).await;
    first.kill9();
    let second = CofferProcess::start(&db, &[]).await;

    // Back with Last-Event-ID: what was missed, and nothing sent before.
    let resumed = EventStream::connect(&second.api.root, "t1", Some(last_seen)).await;
    let missed = resumed
        .wait_for("the delete missed while away", instance_status(&id, "DELETED"))
        .await;
    assert!(missed.iter().all(|e| e.id > last_seen), "{missed:?}");
    assert!(
        missed
            .iter()
            .any(|e| e.kind == "flow" && e.data["flow"]["flow_kind"] == "delete"),
        "the delete's flow steps: {missed:?}"
    );
    let statuses = resumed.statuses_of(&id);
    assert_eq!(statuses.last().map(String::as_str), Some("DELETED"), "{statuses:?}");

    // One instance's whole stored history: its events only, from its BUILD to its DELETED.
    let url = format!("{}/events?target_id={id}&last_event_id=0", second.api.base);
    let history = EventStream::connect_to(&url, None).await;
    let all = history
        .wait_for("the instance's history", instance_status(&id, "DELETED"))
        .await;
    assert!(all.iter().all(|e| e.data.to_string().contains(&id)), "{all:?}");
    let statuses = history.statuses_of(&id);
    assert_eq!(statuses.first().map(String::as_str), Some("BUILD"), "{statuses:?}");
    assert!(statuses.iter().any(|s| s == "ACTIVE"), "{statuses:?}");

    // The operators' newest supervision events, oldest of them first.
    let (status, page) = second.api.get("/mgmt/supervision-events?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let (status, newest) = second.api.get("/mgmt/supervision-events?latest=3").await;
    assert_eq!(status, 200, "{newest}");
    let ids = |body: &serde_json::Value| -> Vec<i64> {
        body["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["id"].as_i64())
            .collect()
    };
    let (all_ids, newest_ids) = (ids(&page), ids(&newest));
    assert!(all_ids.len() >= 3, "{page}");
    assert!(
        newest_ids.len() == 3
            && newest_ids.windows(2).all(|w| w[0] < w[1])
            && newest_ids[0] >= all_ids[all_ids.len() - 3],
        "the newest three, in order: {newest_ids:?} of {all_ids:?}"
    );
}
both_backends!(a_stream_follows_a_create_and_resumes_after_a_restart);

async fn bad_resume_points_are_refused(backend: Backend) {
    let db = TestDb::new(backend);
    let coffer = CofferProcess::start(&db, &[]).await;
    let url = format!("{}/events", coffer.api.base);
    for bad in ["abc", "-1", "1e3", "99999999999999999999"] {
        let (status, _, body) = coffer.api.send_raw("GET", &url, &[("Last-Event-ID", bad)], None).await;
        assert_eq!(status, 400, "Last-Event-ID {bad:?}: {body}");
        assert_eq!(body["badRequest"]["code"], 400, "{body}");
    }
}
both_backends!(bad_resume_points_are_refused);

async fn a_flood_of_streams_is_refused_per_project(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.api.events_max_streams_per_project = 2;
        c.api.events_max_streams = 3;
    })
    .await;
    let root = app.api.root.clone();
    let first = EventStream::connect(&root, "t1", None).await;
    let _second = EventStream::connect(&root, "t1", None).await;
    let url = format!("{root}/v1.0/t1/events");
    let (status, headers, body) = app.api.send_raw("GET", &url, &[], None).await;
    assert_eq!(status, 429, "a third stream of t1: {body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert!(
        body.as_object().is_some_and(|o| o.len() == 1),
        "Trove's fault body: {body}"
    );
    // Another project still gets one; then the process is full.
    let _other = EventStream::connect(&root, "t2", None).await;
    let (status, _, body) = app
        .api
        .send_raw("GET", &format!("{root}/v1.0/t3/events"), &[], None)
        .await;
    assert_eq!(status, 429, "past the process's limit: {body}");
    // A stream whose client went away gives its place back.
    drop(first);
    eventually(Duration::from_secs(40), "t1's place given back", || async {
        let mut response = awc::Client::builder()
            .disable_timeout()
            .finish()
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            200 => Ok(()),
            other => Err(format!("{other}: {:?}", response.body().await)),
        }
    })
    .await;
}
both_backends!(a_flood_of_streams_is_refused_per_project);
