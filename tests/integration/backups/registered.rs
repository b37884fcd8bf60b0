//! Registering a backup whose data is already in the store (Trove's `restore_from`): a copy of
//! a completed backup's object registers as RESTORED, restores like a completed backup, and
//! outlives its registration; locations outside the store or the project, a backup's own
//! object, objects that are not whole backups of the datastore, wrong sizes or checksums, and a
//! project at its quota are refused with nothing stored.

use super::{assert_completed, request_backup, restore, simulated_with_db, wait_backup, wait_backup_gone};
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file behind a local store's `file://` location.
pub fn file_of(location: &str) -> PathBuf {
    PathBuf::from(location.strip_prefix("file://").expect("a local store's location"))
}

/// Copies the object at `from` to `to_key` of the same store; returns the copy's location.
pub fn copy_in_store(from: &str, store_root: &Path, to_key: &str, bytes: Option<&[u8]>) -> String {
    let dest = store_root.join(to_key);
    std::fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
    match bytes {
        Some(b) => std::fs::write(&dest, b).expect("write"),
        None => {
            std::fs::copy(file_of(from), &dest).expect("copy");
        }
    }
    format!("file://{}", dest.display())
}

pub fn register_body(location: &str, version: &str, size: &Value, checksum: Option<&Value>) -> String {
    let mut from = json!({"remote_location": location, "local_datastore_version_id": version, "size": size});
    if let Some(c) = checksum {
        from["checksum"] = c.clone();
    }
    json!({"backup": {"name": "imported", "description": "from another region", "restore_from": from}}).to_string()
}

#[actix_web::test]
async fn a_backup_already_in_the_store_registers_restores_and_outlives_its_registration() {
    registers_restores_and_outlives_its_registration(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_backup_already_in_the_store_registers_on_postgres_too() {
    registers_restores_and_outlives_its_registration(Backend::Postgres).await;
}

async fn registers_restores_and_outlives_its_registration(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let src = simulated_with_db(api, "shop").await;
    let taken = request_backup(api, &src, json!({})).await;
    let done = wait_backup(api, &taken, Duration::from_secs(30)).await;
    assert_completed(&done);
    let original = done["locationRef"].as_str().expect("locationRef").to_string();
    let version = done["datastore"]["version_id"]
        .as_str()
        .expect("version_id")
        .to_string();
    // The store's root: the location less `t1/<backup>/<attempt>.json.zst`.
    let root = file_of(&original).ancestors().nth(3).expect("store root").to_path_buf();
    let copy = copy_in_store(&original, &root, "t1/imported/1.json.zst", None);

    let before = api.get("/backups").await.1["backups"].as_array().map_or(0, Vec::len);
    let (size, checksum) = (&done["size"], &done["checksum"]);
    // The seeded PostgreSQL 15 row (present whether or not its server is installed).
    let postgres_version = "3f1e9d52-0d6b-4c67-9a8e-5f0c2b7a2002";
    let elsewhere = copy_in_store(&original, &root, "t2/theirs/1.json.zst", None);
    let garbage = copy_in_store(&original, &root, "t1/garbage/1.json.zst", Some(b"no zstd here"));
    let dir_of_copy = copy.trim_end_matches("/1.json.zst").to_string();
    let refusals: Vec<(&str, String, u16)> = vec![
        (
            "another project's prefix",
            register_body(&elsewhere, &version, size, None),
            400,
        ),
        (
            "outside the store",
            register_body("s3://elsewhere/t1/imported/1.json.zst", &version, size, None),
            400,
        ),
        (
            "a path that climbs",
            register_body(
                &format!("{dir_of_copy}/../../t2/theirs/1.json.zst"),
                &version,
                size,
                None,
            ),
            400,
        ),
        (
            "no such object",
            register_body(&format!("{dir_of_copy}/9.json.zst"), &version, size, None),
            400,
        ),
        (
            "not a zstd stream",
            register_body(&garbage, &version, &json!(0.0), None),
            400,
        ),
        ("the wrong size", register_body(&copy, &version, &json!(5.0), None), 400),
        (
            "the wrong checksum",
            register_body(&copy, &version, size, Some(&json!("ab".repeat(32)))),
            400,
        ),
        (
            "a checksum that is no SHA-256",
            register_body(&copy, &version, size, Some(&json!("xyz"))),
            400,
        ),
        (
            "another datastore's version",
            register_body(&copy, postgres_version, size, None),
            400,
        ),
        (
            "an unknown version",
            register_body(&copy, "no-such-version", size, None),
            404,
        ),
        ("a negative size", register_body(&copy, &version, &json!(-1), None), 400),
        (
            "an instance as well",
            json!({"backup": {"name": "x", "instance": src, "restore_from": {"remote_location": copy,
                "local_datastore_version_id": version, "size": size}}})
            .to_string(),
            400,
        ),
        (
            "no location",
            json!({"backup": {"name": "x", "restore_from": {"local_datastore_version_id": version, "size": size}}})
                .to_string(),
            400,
        ),
        (
            "restore_from not an object",
            json!({"backup": {"name": "x", "restore_from": "s3://x"}}).to_string(),
            400,
        ),
    ];
    for (what, body, expected) in refusals {
        let (status, reply) = api.send("POST", "/backups", Some(&body)).await;
        assert_eq!(status, expected, "{what}: {reply}");
        let fault = if expected == 404 { "itemNotFound" } else { "badRequest" };
        assert_eq!(reply[fault]["code"], expected, "{what}: Trove's fault body: {reply}");
    }
    let after = api.get("/backups").await.1["backups"].as_array().map_or(0, Vec::len);
    assert_eq!(after, before, "a refused registration stores nothing");
    // A project at its backups quota is refused before anything is read.
    let at_quota = json!({"quotas": {"backups": before}}).to_string();
    assert_eq!(api.send("PUT", "/mgmt/quotas/t1", Some(&at_quota)).await.0, 200);
    let (status, reply) = api
        .send("POST", "/backups", Some(&register_body(&copy, &version, size, None)))
        .await;
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["overLimit"]["code"], 413, "{reply}");
    let unlimited = json!({"quotas": {"backups": -1}}).to_string();
    assert_eq!(api.send("PUT", "/mgmt/quotas/t1", Some(&unlimited)).await.0, 200);

    let (status, reply) = api
        .send(
            "POST",
            "/backups",
            Some(&register_body(&copy, &version, size, Some(checksum))),
        )
        .await;
    assert_eq!(status, 202, "{reply}");
    let registered = &reply["backup"];
    assert_eq!(registered["status"], "RESTORED", "{registered}");
    assert_eq!(registered["instance_id"], Value::Null, "{registered}");
    assert_eq!(registered["locationRef"], json!(copy), "{registered}");
    assert_eq!(&registered["checksum"], checksum, "{registered}");
    assert_eq!(&registered["size"], size, "{registered}");
    assert_eq!(registered["datastore"]["version_id"], json!(version), "{registered}");
    let reg_id = registered["id"].as_str().expect("id").to_string();
    let (_, listed) = api.get("/backups").await;
    assert!(
        listed["backups"]
            .as_array()
            .is_some_and(|l| l.iter().any(|b| b["id"] == json!(reg_id))),
        "{listed}"
    );

    // Another project neither sees it nor restores from it.
    let t2 = api.as_project("t2", "any");
    assert_eq!(t2.get(&format!("/backups/{reg_id}")).await.0, 404);

    // The original goes; the registered copy still restores, databases and all.
    assert_eq!(api.send("DELETE", &format!("/backups/{taken}"), None).await.0, 202);
    wait_backup_gone(api, &taken).await;
    let (restored, _) = restore(api, &reg_id, None).await;
    api.wait_active(&restored).await;
    let (_, dbs) = api.get(&format!("/instances/{restored}/databases")).await;
    assert_eq!(dbs["databases"][0]["name"], "shop", "{dbs}");

    // Deleting the registration leaves the object coffer did not write.
    assert_eq!(api.send("DELETE", &format!("/backups/{reg_id}"), None).await.0, 202);
    wait_backup_gone(api, &reg_id).await;
    assert!(file_of(&copy).exists(), "the registered object stays");
}
