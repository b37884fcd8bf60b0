//! `GET /mgmt/flows`: every flow a page at a time, narrowed by project, kind, status, owner
//! node and target.

use crate::both_backends;
use crate::support::{Api, Backend, TestApp};
use serde_json::Value;

async fn flows(api: &Api, query: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/mgmt/flows{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["flows"].as_array().cloned().unwrap_or_default()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|f| f["id"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn flows_are_paged_and_narrowed(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let mut other = Api::new(&api.root);
    other.base = format!("{}/v1.0/t2", api.root);
    let (kept, deleted, theirs) = (
        api.create("kept").await,
        api.create("deleted").await,
        other.create("theirs").await,
    );
    for id in [&kept, &deleted] {
        api.wait_active(id).await;
    }
    other.wait_active(&theirs).await;
    assert_eq!(api.send("DELETE", &format!("/instances/{deleted}"), None).await.0, 202);
    api.wait_gone(&deleted).await;

    let all = flows(api, "").await;
    assert_eq!(all.len(), 4, "three creates and a delete: {all:?}");
    let mine = flows(api, "?project_id=t1").await;
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine.iter().all(|f| f["target_id"] != theirs.as_str()), "{mine:?}");
    let t2 = flows(api, "?project_id=t2").await;
    assert_eq!((t2.len(), t2[0]["target_id"].as_str()), (1, Some(theirs.as_str())));
    let deletes = flows(api, "?kind=delete&status=done").await;
    assert_eq!(
        (deletes.len(), deletes[0]["target_id"].as_str()),
        (1, Some(deleted.as_str()))
    );
    assert!(flows(api, "?kind=delete&status=running").await.is_empty());
    let node = app.node.services.node_id.clone();
    assert_eq!(flows(api, &format!("?owner={node}")).await.len(), 4);
    assert!(flows(api, "?owner=no-such-node").await.is_empty());
    assert_eq!(flows(api, &format!("?target_id={kept}")).await.len(), 1);

    // Pages of one, following the next link's marker: every flow once, in order.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let (status, body) = api.get(&format!("/mgmt/flows{query}")).await;
        assert_eq!(status, 200, "{body}");
        let page = body["flows"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 1, "{body}");
        paged.extend(page);
        match body["links"][0]["marker"].as_str() {
            Some(marker) => query = format!("?limit=1&marker={marker}"),
            None => break,
        }
    }
    assert_eq!(ids(&paged), ids(&all), "pages of one give the whole list in order");
    // The next link keeps the filters.
    let (_, body) = api.get("/mgmt/flows?limit=1&project_id=t1&kind=create").await;
    let href = body["links"][0]["href"].as_str().unwrap_or_default().to_string();
    assert!(href.contains("project_id=t1") && href.contains("kind=create"), "{body}");
    let (status, next) = api.get(&format!("/mgmt/flows{href}")).await;
    assert_eq!(status, 200, "{next}");
    let next = next["flows"].as_array().cloned().unwrap_or_default();
    assert!(
        next.iter()
            .all(|f| f["kind"] == "create" && f["target_id"] != theirs.as_str()),
        "{next:?}"
    );

    let (status, body) = api.get("/mgmt/flows?marker=no-such-flow").await;
    assert_eq!(
        (status, &body["badRequest"]["code"]),
        (400, &Value::from(400)),
        "{body}"
    );
    let (status, body) = api.get("/mgmt/flows?limit=zero").await;
    assert_eq!(status, 400, "{body}");
}
both_backends!(flows_are_paged_and_narrowed);
