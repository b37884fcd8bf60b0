//! Backups and restore: the API in Trove's shapes and codes on the simulated datastore (both
//! backends), a corrupt object, coffer killed mid-backup, schedules and retention; real
//! datastores in `real`, the S3 store in `s3`, registering with `restore_from` in `registered`.

mod real;
mod registered;
mod s3;
mod schedules;

use crate::support::{eventually, Api, Backend, CofferProcess, TestApp, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// Requests a backup; returns its id (asserting Trove's 202 and view).
pub async fn request_backup(api: &Api, instance: &str, extra: Value) -> String {
    let mut backup = json!({"name": "bk", "instance": instance, "description": "test"});
    if let (Some(b), Some(more)) = (backup.as_object_mut(), extra.as_object()) {
        b.extend(more.clone());
    }
    let (status, body) = api
        .send("POST", "/backups", Some(&json!({ "backup": backup }).to_string()))
        .await;
    assert_eq!(status, 202, "backup create: {body}");
    let view = &body["backup"];
    for key in [
        "id",
        "name",
        "description",
        "locationRef",
        "instance_id",
        "created",
        "updated",
        "size",
        "status",
        "parent_id",
        "project_id",
    ] {
        assert!(view.get(key).is_some(), "backup view lacks {key}: {view}");
    }
    for key in ["type", "version", "version_id"] {
        assert!(view["datastore"][key].is_string(), "datastore.{key} missing: {view}");
    }
    assert_eq!(view["status"], "NEW");
    view["id"].as_str().expect("id").to_string()
}

/// Polls the backup until it is COMPLETED or FAILED (or gone: Null).
pub async fn wait_backup(api: &Api, id: &str, within: Duration) -> Value {
    let what = format!("backup {id} ends");
    eventually(within, &what, || async {
        let (status, body) = api.get(&format!("/backups/{id}")).await;
        if status == 404 {
            return Ok(Value::Null);
        }
        assert_eq!(status, 200, "{body}");
        let state = body["backup"]["status"].as_str().unwrap_or("").to_string();
        if state == "COMPLETED" || (state == "FAILED" && body["backup"]["fault"].is_object()) {
            Ok(body["backup"].clone())
        } else {
            Err(body)
        }
    })
    .await
}

/// Polls until the backup is gone (404).
pub async fn wait_backup_gone(api: &Api, id: &str) {
    let what = format!("backup {id} deleted");
    eventually(Duration::from_secs(30), &what, || async {
        let (status, body) = api.get(&format!("/backups/{id}")).await;
        if status == 404 {
            Ok(())
        } else {
            Err((status, body))
        }
    })
    .await
}

pub fn assert_completed(b: &Value) {
    assert_eq!(b["status"], "COMPLETED", "{b}");
    assert!(b["size"].as_f64().is_some_and(|s| s > 0.0), "size: {b}");
    let checksum = b["checksum"].as_str().unwrap_or("");
    assert!(
        checksum.len() == 64 && checksum.chars().all(|c| c.is_ascii_hexdigit()),
        "SHA-256 checksum: {b}"
    );
    assert!(b["locationRef"].as_str().is_some_and(|l| !l.is_empty()), "{b}");
}

/// Creates an instance restored from `backup`; returns (id, create response view).
pub async fn restore(api: &Api, backup: &str, datastore: Option<&str>) -> (String, Value) {
    let mut instance = json!({"name": "restored", "flavorRef": "1", "volume": {"size": 1},
        "restorePoint": {"backupRef": backup}});
    if let Some(ds) = datastore {
        instance["datastore"] = json!({"type": ds});
    }
    let (status, body) = api
        .send("POST", "/instances", Some(&json!({ "instance": instance }).to_string()))
        .await;
    assert_eq!(status, 200, "restore create: {body}");
    (
        body["instance"]["id"].as_str().expect("id").to_string(),
        body["instance"].clone(),
    )
}

async fn simulated_with_db(api: &Api, db: &str) -> String {
    let body = json!({"instance": {"name": "src", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "simulated"}, "databases": [{"name": db}]}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&id).await;
    id
}

async fn database_names(api: &Api, id: &str) -> Vec<String> {
    let (status, body) = api.get(&format!("/instances/{id}/databases")).await;
    assert_eq!(status, 200, "{body}");
    body["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| d["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn fault_of(view: &Value) -> &str {
    view["fault"]["message"].as_str().unwrap_or("")
}

async fn backup_lifecycle_and_restore(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(400)
    })
    .await;
    let api = &app.api;
    let id = simulated_with_db(api, "shop").await;

    let bk = request_backup(api, &id, json!({})).await;
    // While it runs: the instance shows BACKUP and refuses actions; the backup cannot be deleted.
    let view = api.instance(&id).await.expect("instance");
    assert_eq!(view["status"], "BACKUP", "{view}");
    // Listed so too, in the project's list and in the admin's list of every project.
    for path in ["/instances", "/mgmt/instances"] {
        let (_, list) = api.get(path).await;
        let listed = list["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["id"] == id.as_str());
        assert_eq!(
            listed.map(|i| i["status"].clone()),
            Some(json!("BACKUP")),
            "{path}: {list}"
        );
    }
    let (status, body) = api
        .send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["unprocessableEntity"]["message"].is_string(), "{body}");
    let (status, body) = api.send("DELETE", &format!("/backups/{bk}"), None).await;
    assert_eq!(status, 422, "delete while running: {body}");
    let (status, body) = api
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "b2", "instance": id}}).to_string()),
        )
        .await;
    assert_eq!(status, 422, "a second backup while one runs: {body}");

    let done = wait_backup(api, &bk, Duration::from_secs(30)).await;
    assert_completed(&done);
    assert_eq!(api.instance(&id).await.expect("instance")["status"], "ACTIVE");

    // Lists: all, by instance, by datastore, the instance's own route.
    for path in [
        "/backups".to_string(),
        format!("/backups?instance_id={id}"),
        "/backups?datastore=simulated".to_string(),
        format!("/instances/{id}/backups"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body["backups"]
                .as_array()
                .expect("backups")
                .iter()
                .any(|b| b["id"] == bk.as_str()),
            "{path}: {body}"
        );
    }
    let (_, body) = api.get("/backups?datastore=postgresql").await;
    assert!(body["backups"].as_array().expect("backups").is_empty(), "{body}");

    // An incremental on it, then a restore of the chain.
    let inc = request_backup(api, &id, json!({"incremental": 1})).await;
    let inc_view = wait_backup(api, &inc, Duration::from_secs(30)).await;
    assert_completed(&inc_view);
    assert_eq!(inc_view["parent_id"], bk.as_str());
    let (restored, _) = restore(api, &inc, None).await;
    let view = api.wait_active(&restored).await;
    assert_eq!(view["datastore"]["type"], "simulated");
    assert_eq!(database_names(api, &restored).await, vec!["shop".to_string()]);

    // Deleting the full backup deletes the chain, its objects and its quota use.
    let objects = app.node.services.config.backup.local_dir().join("t1");
    assert!(objects.join(&bk).exists() && objects.join(&inc).exists());
    let (status, _) = api.send("DELETE", &format!("/backups/{bk}"), None).await;
    assert_eq!(status, 202);
    for gone in [&bk, &inc] {
        wait_backup_gone(api, gone).await;
        assert!(!objects.join(gone).exists(), "objects of {gone} removed");
    }
    let (_, quotas) = api.get("/mgmt/quotas/t1").await;
    let backups = quotas["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|q| q["resource"] == "backups")
        .cloned()
        .expect("backups quota");
    assert_eq!(backups["in_use"], 0, "{quotas}");
}
crate::both_backends!(backup_lifecycle_and_restore);

async fn bad_backup_requests(backend: Backend) {
    let app = TestApp::start(backend, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(300)
    })
    .await;
    let api = &app.api;
    let id = simulated_with_db(api, "shop").await;
    let other = simulated_with_db(api, "other").await;
    let post = |body: Value| {
        let api = api.clone();
        async move { api.send("POST", "/backups", Some(&body.to_string())).await }
    };

    // Another project's instance is not found.
    let t2 = api.as_project("t2", "any");
    let (status, body) = t2
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "x", "instance": id}}).to_string()),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["itemNotFound"]["message"].is_string(), "{body}");
    // An instance still in BUILD.
    let building = api.create("building").await;
    let (status, body) = post(json!({"backup": {"name": "x", "instance": building}})).await;
    assert_eq!(status, 422, "{body}");
    // Malformed bodies.
    for bad in [
        json!({}),
        json!({"backup": {"instance": id}}),
        json!({"backup": {"name": "x"}}),
        json!({"backup": {"name": "x", "instance": id, "incremental": 7}}),
    ] {
        let (status, body) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["badRequest"]["message"].is_string(), "{body}");
    }
    // Unknown parent; a parent of another instance.
    let (status, body) = post(json!({"backup": {"name": "x", "instance": id,
        "parent_id": "00000000-0000-0000-0000-000000000000"}}))
    .await;
    assert_eq!(status, 404, "{body}");
    let theirs = request_backup(api, &other, json!({})).await;
    assert_completed(&wait_backup(api, &theirs, Duration::from_secs(30)).await);
    let (status, body) = post(json!({"backup": {"name": "x", "instance": id, "parent_id": theirs}})).await;
    assert_eq!(status, 400, "{body}");
    // Over the backups quota: 413, and nothing recorded.
    let (status, _) = api
        .send("PUT", "/mgmt/quotas/t1", Some(r#"{"quotas": {"backups": 1}}"#))
        .await;
    assert_eq!(status, 200);
    let (status, body) = post(json!({"backup": {"name": "x", "instance": id}})).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["overLimit"]["message"].is_string(), "{body}");
    let (_, list) = api.get(&format!("/backups?instance_id={id}")).await;
    assert!(list["backups"].as_array().expect("backups").is_empty(), "{list}");
    // Restores that cannot be: unknown backup, another project's backup.
    let body = json!({"instance": {"name": "r", "flavorRef": "1", "restorePoint": {"backupRef": "nope"}}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 404, "{resp}");
    let body = json!({"instance": {"name": "r", "flavorRef": "1", "restorePoint": {"backupRef": theirs}}});
    let (status, resp) = t2.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 404, "{resp}");
    let body = json!({"instance": {"name": "r", "flavorRef": "1", "restorePoint": {}}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 400, "{resp}");
    // Show and delete of unknown or foreign backups.
    assert_eq!(api.get("/backups/nope").await.0, 404);
    assert_eq!(t2.get(&format!("/backups/{theirs}")).await.0, 404);
    assert_eq!(t2.send("DELETE", &format!("/backups/{theirs}"), None).await.0, 404);
    assert_eq!(api.get("/backups?marker=x").await.0, 400);
    // Backup strategies (per-project swift containers) do not apply: none exist, none can be made.
    let (status, body) = api.get("/backup_strategies").await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"backup_strategies": []})),
        "{body}"
    );
    let strategy = json!({"backup_strategy": {"swift_container": "c"}}).to_string();
    let (status, body) = api.send("POST", "/backup_strategies", Some(&strategy)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["unprocessableEntity"]["message"].is_string(), "{body}");
    assert_eq!(api.send("DELETE", "/backup_strategies", None).await.0, 202);
}
crate::both_backends!(bad_backup_requests);

#[actix_web::test]
async fn a_corrupt_backup_fails_the_restore_visibly() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let id = simulated_with_db(api, "shop").await;
    let bk = request_backup(api, &id, json!({})).await;
    assert_completed(&wait_backup(api, &bk, Duration::from_secs(30)).await);
    // Flip one byte of the stored object.
    let dir = app.node.services.config.backup.local_dir().join("t1").join(&bk);
    let object = std::fs::read_dir(&dir)
        .expect("backup dir")
        .flatten()
        .next()
        .expect("object")
        .path();
    let mut bytes = std::fs::read(&object).expect("read object");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, bytes).expect("write object");

    let (restored, _) = restore(api, &bk, None).await;
    let view = api
        .wait_for(&restored, Duration::from_secs(30), "ERROR", |v| {
            v.is_some_and(|v| v["status"] == "ERROR")
        })
        .await
        .expect("view");
    assert!(fault_of(&view).contains("checksum"), "checksum fault: {view}");
    // The original is untouched.
    let original = api.wait_active(&id).await;
    assert_eq!(original["status"], "ACTIVE");
    assert_eq!(database_names(api, &id).await, vec!["shop".to_string()]);
}

#[actix_web::test]
async fn a_backup_interrupted_by_sigkill_is_retried_and_completes() {
    let db = TestDb::new(Backend::Sqlite);
    let env = [("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "3000".to_string())];
    let coffer = CofferProcess::start(&db, &env).await;
    let id = coffer.api.create("src").await;
    coffer.api.wait_active_within(&id, Duration::from_secs(30)).await;
    let bk = request_backup(&coffer.api, &id, json!({})).await;
    eventually(Duration::from_secs(10), "the backup starts (BUILDING)", || async {
        let (_, body) = coffer.api.get(&format!("/backups/{bk}")).await;
        if body["backup"]["status"] == "BUILDING" {
            Ok(())
        } else {
            Err(body)
        }
    })
    .await;
    coffer.kill9();

    let coffer = CofferProcess::start(&db, &env).await;
    let done = wait_backup(&coffer.api, &bk, Duration::from_secs(60)).await;
    assert_completed(&done);
    let view = coffer.api.wait_active_within(&id, Duration::from_secs(30)).await;
    assert_eq!(view["status"], "ACTIVE", "the instance left BACKUP: {view}");
    coffer.kill9();
}
