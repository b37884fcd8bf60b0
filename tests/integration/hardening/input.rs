//! Odd input gets Trove's fault with the right status, never a 500, on both backends: unknown
//! projects, control characters and NULs, character sets a datastore would not honour, flavor
//! links elsewhere, and what the HTTP layer itself refuses.

use crate::both_backends;
use crate::datastores::{create, ip_of, pg, BUILD_BOUND};
use crate::identity::{api_as, keystone_app, ADMIN_PASSWORD};
use crate::support::{Api, Backend, TestApp};
use serde_json::{json, Value};
use std::io::{Read, Write};

fn assert_fault(status: u16, body: &Value, want: u16, key: &str, case: &str) {
    assert_eq!(status, want, "{case}: {body}");
    assert_eq!(body[key]["code"], want, "{case}: {body}");
}

#[actix_web::test]
async fn quotas_of_unknown_projects_are_not_found() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    let (status, body) = admin
        .send(
            "PUT",
            "/mgmt/quotas/no-such-project",
            Some(r#"{"quotas": {"instances": 3}}"#),
        )
        .await;
    assert_fault(status, &body, 404, "itemNotFound", "PUT unknown project");
    let (status, body) = admin.get("/mgmt/quotas/no-such-project").await;
    assert_fault(status, &body, 404, "itemNotFound", "GET unknown project");
    let stored = app
        .node
        .services
        .db
        .run(|c| {
            use coffer::db::schema::quotas;
            use diesel::prelude::*;
            Ok(quotas::table
                .filter(quotas::tenant_id.eq("no-such-project"))
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .expect("count");
    assert_eq!(stored, 0, "no rows for a project that does not exist");
    let own = admin.base.rsplit('/').next().expect("project").to_string();
    let (status, _) = admin
        .send(
            "PUT",
            &format!("/mgmt/quotas/{own}"),
            Some(r#"{"quotas": {"instances": 3}}"#),
        )
        .await;
    assert_eq!(status, 200);
}

async fn control_characters_and_nuls_are_refused(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let instance = |extra: Value| {
        let mut i = json!({"name": "ok", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "simulated"}});
        if let (Some(o), Some(e)) = (i.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        json!({ "instance": i }).to_string()
    };
    let cases = [
        instance(json!({"name": "a\u{0}b"})),
        instance(json!({"name": "a\u{1}b"})),
        instance(json!({"name": "line\nbreak"})),
        instance(json!({"name": "nel\u{85}"})),
        instance(json!({"datastore": {"type": "\u{0}"}})),
        instance(json!({"flavorRef": "1\u{0}"})),
        instance(json!({"databases": [{"name": "d\u{0}"}]})),
        instance(json!({"databases": [{"name": "d", "character_set": "utf8\u{0}"}]})),
        instance(json!({"users": [{"name": "u\u{7}", "password": "p"}]})),
        instance(json!({"users": [{"name": "u", "password": "p\u{0}w"}]})),
    ];
    for body in &cases {
        let (status, resp) = api.send("POST", "/instances", Some(body)).await;
        assert_fault(status, &resp, 400, "badRequest", body);
    }
    let id = api.create("fine").await;
    api.wait_active(&id).await;
    let (status, resp) = api
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "b\u{0}", "instance": id}}).to_string()),
        )
        .await;
    assert_fault(status, &resp, 400, "badRequest", "backup name with NUL");
    let (status, resp) = api
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "b\tx", "instance": id}}).to_string()),
        )
        .await;
    assert_fault(status, &resp, 400, "badRequest", "backup name with a tab");
    for path in [
        "/instances/%00",
        "/instances/a%0Ab",
        "/instances?marker=%00",
        "/backups/%7f",
        "/flavors/%00",
    ] {
        let (status, resp) = api.get(path).await;
        assert_fault(status, &resp, 400, "badRequest", path);
    }
    let (_, list) = api.get("/instances").await;
    assert_eq!(
        list["instances"].as_array().map(Vec::len),
        Some(1),
        "nothing refused was stored"
    );
}
both_backends!(control_characters_and_nuls_are_refused);

async fn flavor_references_name_this_services_flavors_only(backend: Backend) {
    let app = TestApp::start(backend, |_| {}).await;
    let api = &app.api;
    let create =
        |flavor: &str| json!({"instance": {"name": "f", "flavorRef": flavor, "volume": {"size": 1}}}).to_string();
    for good in [
        "1".to_string(),
        "m1.tiny".into(),
        format!("{}/flavors/1", api.base),
        format!("{}/flavors/1", api.root),
        "/v1.0/t1/flavors/1".into(),
    ] {
        let (status, body) = api.send("POST", "/instances", Some(&create(&good))).await;
        assert_eq!(status, 200, "{good}: {body}");
        assert_eq!(body["instance"]["flavor"]["id"], "1", "{good}");
    }
    for bad in [
        "http://evil.example/v1.0/t1/flavors/1".to_string(),
        format!("{}/flavors/1/extra", api.base),
        format!("{}/v1.0/other/flavors/1", api.root),
        format!("{}/instances/1", api.base),
        "javascript://x/flavors/1".into(),
    ] {
        let (status, body) = api.send("POST", "/instances", Some(&create(&bad))).await;
        assert_fault(status, &body, 400, "badRequest", &bad);
    }
    let (status, body) = api.send("POST", "/instances", Some(&create("no-such-flavor"))).await;
    assert_fault(status, &body, 404, "itemNotFound", "unknown flavor name");
}
both_backends!(flavor_references_name_this_services_flavors_only);

async fn list_databases(api: &Api, id: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/instances/{id}/databases")).await;
    assert_eq!(status, 200, "{body}");
    body["databases"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn postgresql_character_sets_are_honoured_or_refused() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    for (charset, collate) in [
        ("klingon", "C"),
        ("LATIN1", "C.UTF-8"),
        ("UTF8", "zz_ZZ.UTF-8"),
        ("UTF8", "x'y"),
    ] {
        let body = json!({"instance": {"name": "pg", "flavorRef": "1", "volume": {"size": 1},
            "datastore": {"type": "postgresql"},
            "databases": [{"name": "d", "character_set": charset, "collate": collate}]}});
        let (status, resp) = api.send("POST", "/instances", Some(&body.to_string())).await;
        assert_fault(status, &resp, 400, "badRequest", &format!("{charset}/{collate}"));
    }
    let (id, _) = create(
        api,
        "postgresql",
        json!({"databases": [{"name": "legacy", "character_set": "LATIN1", "collate": "C"},
                             {"name": "modern", "character_set": "utf8", "collate": "C.UTF-8"}],
               "users": [{"name": "app", "password": "app-secret", "databases": [{"name": "legacy"}]}]}),
    )
    .await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let listed = list_databases(api, &id).await;
    let legacy = listed.iter().find(|d| d["name"] == "legacy").expect("legacy listed");
    assert_eq!(
        (legacy["character_set"].clone(), legacy["collate"].clone()),
        (json!("LATIN1"), json!("C")),
        "{listed:?}"
    );
    let client = pg(&ip_of(&view), "app", "app-secret", "legacy").await.expect("connect");
    let row = client
        .query_one(
            "SELECT pg_encoding_to_char(encoding)::text, datcollate::text FROM pg_database WHERE datname = 'legacy'",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("LATIN1".into(), "C".into())
    );
    // On a running instance too.
    let (status, resp) = api
        .send(
            "POST",
            &format!("/instances/{id}/databases"),
            Some(r#"{"databases": [{"name": "w", "character_set": "WIN1252", "collate": "C.UTF-8"}]}"#),
        )
        .await;
    assert_fault(status, &resp, 400, "badRequest", "mismatched on a running instance");
    let (status, resp) = api
        .send(
            "POST",
            &format!("/instances/{id}/databases"),
            Some(r#"{"databases": [{"name": "w", "character_set": "WIN1252"}]}"#),
        )
        .await;
    assert_eq!(status, 202, "{resp}");
    let listed = list_databases(api, &id).await;
    let w = listed.iter().find(|d| d["name"] == "w").expect("w listed");
    assert_eq!(w["character_set"], "WIN1252", "{listed:?}");
    api.send("DELETE", &format!("/instances/{id}"), None).await;
    api.wait_gone(&id).await;
}

/// Sends `request` as raw bytes; returns the status and the JSON body of the answer.
fn raw_http(root: &str, request: Vec<u8>) -> (u16, Value) {
    let addr = root.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(&request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn the_http_layers_refusals_carry_trove_faults() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let root = app.api.root.clone();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            format!("GET /v1.0/t1/instances HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200 << 10)).into_bytes(),
            431,
            "requestHeaderFieldsTooLarge",
        ),
        (
            b"POST /v1.0/t1/instances HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}".to_vec(),
            400,
            "badRequest",
        ),
        (
            b"POST /v1.0/t1/instances HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            400,
            "badRequest",
        ),
        (
            format!("GET /v1.0/t1/instances?x={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(9000)).into_bytes(),
            414,
            "requestURITooLong",
        ),
        (
            format!(
                "POST /v1.0/t1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{{\"instance\": \"{}\"}}",
                (2 << 20) + 16,
                "x".repeat(2 << 20)
            )
            .into_bytes(),
            413,
            "overLimit",
        ),
    ];
    for (request, want, key) in cases {
        let head = String::from_utf8_lossy(&request[..request.len().min(60)]).to_string();
        let root = root.clone();
        let (status, body) = tokio::task::spawn_blocking(move || raw_http(&root, request))
            .await
            .expect("raw");
        assert_fault(status, &body, want, key, &head);
    }
}

/// Sends a 2 MiB body the way a plain client does (all of it, then read the answer) and
/// returns the status; a write or read error is a failure.
fn post_whole(root: &str, path: &str) -> Result<u16, String> {
    let addr = root.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let timeout = Some(std::time::Duration::from_secs(10));
    stream.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    let body = format!("{{\"auth\": \"{}\"}}", "x".repeat(2 << 20));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("writing the head: {e}"))?;
    stream
        .write_all(body.as_bytes())
        .map_err(|e| format!("writing the body: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {text:?}"))
}

/// A body refused before it was read (too large, or not authenticated) is still answered: the
/// connection lingers until the client has sent it, instead of being reset under the client.
#[actix_web::test]
async fn refused_large_bodies_are_answered_not_reset() {
    let app = TestApp::start(Backend::Sqlite, |c| c.auth.mode = coffer::config::AuthMode::Keystone).await;
    for (path, want) in [("/v3/auth/tokens", 413), ("/v1.0/t1/instances", 401)] {
        let mut outcomes = Vec::new();
        for _ in 0..30 {
            let root = app.api.root.clone();
            outcomes.push(
                tokio::task::spawn_blocking(move || post_whole(&root, path))
                    .await
                    .expect("client"),
            );
        }
        assert!(
            outcomes.iter().all(|o| o == &Ok(want)),
            "every 2 MiB POST {path} is answered {want}: {outcomes:?}"
        );
    }
}
