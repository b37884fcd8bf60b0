//! The S3 backup store, against a private moto_server that scripts/test.sh starts on 127.0.0.1
//! (`COFFERTEST_S3_URL`): a backup is stored there, restored from there, and deleted there.

use super::{assert_completed, request_backup, restore, wait_backup};
use crate::support::{Backend, TestApp};
use serde_json::json;
use std::time::Duration;

fn s3_url() -> String {
    std::env::var("COFFERTEST_S3_URL")
        .expect("COFFERTEST_S3_URL is not set: the S3 test needs the private moto_server; run ./scripts/test.sh")
}

#[actix_web::test]
async fn backups_round_trip_through_an_s3_store() {
    let url = s3_url();
    let bucket = format!("coffer-{}", uuid::Uuid::new_v4().simple());
    // moto creates a bucket on an unsigned PUT.
    let created = awc::Client::default()
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(created.status().is_success(), "bucket: {}", created.status());
    let app = TestApp::start(Backend::Sqlite, |c| {
        c.backup.store = "s3".into();
        c.backup.s3_endpoint = url.clone();
        c.backup.s3_bucket = bucket.clone();
        c.backup.s3_access_key = "testing".into();
        c.backup.s3_secret_key = "testing".into();
    })
    .await;
    let api = &app.api;
    let body = json!({"instance": {"name": "src", "flavorRef": "1", "datastore": {"type": "simulated"},
        "databases": [{"name": "shop"}]}});
    let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["instance"]["id"].as_str().expect("id").to_string();
    api.wait_active(&id).await;
    let bk = request_backup(api, &id, json!({})).await;
    let done = wait_backup(api, &bk, Duration::from_secs(30)).await;
    assert_completed(&done);
    assert!(
        done["locationRef"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("s3://{bucket}/t1/{bk}/")),
        "{done}"
    );
    let listing = awc::Client::default()
        .get(format!("{url}/{bucket}?list-type=2&prefix=t1/{bk}/"))
        .send()
        .await
        .expect("list")
        .body()
        .await
        .expect("body");
    assert!(
        String::from_utf8_lossy(&listing).contains(&bk),
        "the object is in the bucket"
    );

    let (restored, _) = restore(api, &bk, None).await;
    api.wait_active(&restored).await;
    let (_, dbs) = api.get(&format!("/instances/{restored}/databases")).await;
    assert_eq!(dbs["databases"][0]["name"], "shop", "{dbs}");

    let (status, _) = api.send("DELETE", &format!("/backups/{bk}"), None).await;
    assert_eq!(status, 202);
    super::wait_backup_gone(api, &bk).await;
    let listing = awc::Client::default()
        .get(format!("{url}/{bucket}?list-type=2&prefix=t1/{bk}/"))
        .send()
        .await
        .expect("list")
        .body()
        .await
        .expect("body");
    assert!(
        !String::from_utf8_lossy(&listing).contains(&format!("{bk}/1")),
        "the object was deleted"
    );
}
