//! `/mgmt` authorization whatever the path's spelling; tokens that expire when the token they
//! came from does, and can be validated and revoked; links that never echo a client's headers.

use super::tokens::password_body;
use crate::identity::{add_user, api_as, keystone_app, ADMIN_PASSWORD};
use crate::support::Backend;
use serde_json::Value;

/// Every spelling of `/mgmt/<rest>` a router might decode to the real thing.
fn spellings(rest: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for mgmt in [
        "m%67mt",
        "%6dgmt",
        "%6D%67%6D%74",
        "m%2567mt",
        "MGMT",
        "Mgmt",
        "mgm%74",
        "./mgmt",
        "/mgmt",
        "mgmt/.",
        "x/../mgmt",
        "%2e/mgmt",
        "mgmt/",
    ] {
        paths.push(format!("/{mgmt}/{rest}"));
    }
    paths.push(format!("/mgmt/{rest}/"));
    paths.push(format!("/mgmt//{rest}"));
    paths.push(format!("/mgmt/./{rest}"));
    paths
}

fn denied(status: u16) -> bool {
    status == 403 || status == 404 || status == 401
}

#[actix_web::test]
async fn mgmt_is_for_admins_however_the_path_is_spelled() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    let alpha = add_user(&app, "alpha", "alice", "pw-a", "member").await;
    add_user(&app, "alpha", "rita", "pw-r", "reader").await;
    let beta = add_user(&app, "beta", "bob", "pw-b", "member").await;
    let alice = api_as(&app, "alice", "pw-a", "alpha").await;
    let rita = api_as(&app, "rita", "pw-r", "alpha").await;
    let bob = api_as(&app, "bob", "pw-b", "beta").await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    bob.create("bobs").await;

    // The router decodes: an admin reaches the encoded spelling, which is why the check must
    // sit on the matched route.
    assert_eq!(admin.get("/m%67mt/instances").await.0, 200);
    let (status, all) = admin.get("/mgmt/instances").await;
    assert_eq!(status, 200, "{all}");

    let reads = [
        "instances",
        "actors",
        "supervision-events",
        "flows?instance_id=x",
        "flows",
        "services",
        "datastores/versions/x/parameters",
        "datastores/versions/x/parameters/work_mem",
    ];
    for caller in [&alice, &rita] {
        for rest in reads.iter().map(|r| r.to_string()).chain([format!("quotas/{beta}")]) {
            for path in spellings(&rest) {
                let (status, body) = caller.get(&path).await;
                assert!(denied(status), "GET {path} as a non-admin answered {status}: {body}");
                assert!(
                    [
                        "instances",
                        "actors",
                        "flows",
                        "services",
                        "events",
                        "configuration-parameters"
                    ]
                    .iter()
                    .all(|k| body.get(*k).is_none()),
                    "{path} leaked: {body}"
                );
            }
        }
        for path in spellings(&format!("quotas/{alpha}"))
            .into_iter()
            .chain(spellings(&format!("quotas/{beta}")))
        {
            let (status, body) = caller
                .send("PUT", &path, Some(r#"{"quotas": {"instances": 500}}"#))
                .await;
            assert!(denied(status), "PUT {path} as a non-admin answered {status}: {body}");
        }
        for path in spellings("datastores/versions/x/parameters") {
            let body = r#"{"configuration-parameter": {"name": "a", "data_type": "string", "restart_required": 0}}"#;
            let (status, answer) = caller.send("POST", &path, Some(body)).await;
            assert!(denied(status), "POST {path} as a non-admin answered {status}: {answer}");
        }
    }
    // Nothing was raised.
    let (_, quotas) = admin.get(&format!("/mgmt/quotas/{beta}")).await;
    let instances = quotas["quotas"]
        .as_array()
        .and_then(|q| q.iter().find(|r| r["resource"] == "instances"))
        .cloned()
        .expect("instances row");
    assert_eq!(instances["limit"], 10, "{quotas}");
    // A project still reads its own quotas, and only its own.
    assert_eq!(alice.get(&format!("/mgmt/quotas/{alpha}")).await.0, 200);
    assert_eq!(alice.get(&format!("/mgmt/quotas/{beta}")).await.0, 403);
}

#[actix_web::test]
async fn unknown_methods_on_known_paths_answer_405_with_allow() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    let id = admin.create("m").await;
    let cases = [
        ("PATCH", "/instances".to_string(), "GET, HEAD, POST"),
        ("POST", format!("/instances/{id}"), "GET, HEAD, PUT, PATCH, DELETE"),
        ("GET", format!("/instances/{id}/action"), "POST"),
        ("DELETE", "/flavors".to_string(), "GET, HEAD"),
        ("POST", "/mgmt/actors".to_string(), "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let url = format!("{}{path}", admin.base);
        let (status, headers, body) = admin.send_raw(method, &url, &[], Some("{}")).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body["badMethod"]["code"], 405, "{body}");
        assert_eq!(
            headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    let (status, _, _) = admin
        .send_raw("PATCH", &format!("{}/v3/auth/tokens", admin.root), &[], None)
        .await;
    assert_eq!(status, 405);
}

/// Every `href` anywhere in `body`, and every catalog URL.
fn urls(body: &Value, out: &mut Vec<String>) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("href" | "url", Value::String(s)) => out.push(s.clone()),
                    _ => urls(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| urls(i, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn links_never_echo_untrusted_headers() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    let id = admin.create("linked").await;
    let hostile = [
        ("Host", "evil.example"),
        ("X-Forwarded-Host", "javascript://evil.example/x"),
        ("X-Forwarded-Proto", "javascript"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    let own = admin.root.clone();
    for path in [
        "/flavors".to_string(),
        format!("/instances/{id}"),
        "/instances?limit=1".into(),
    ] {
        let (status, _, body) = admin
            .send_raw("GET", &format!("{}{path}", admin.base), &hostile, None)
            .await;
        assert_eq!(status, 200, "{body}");
        let mut found = Vec::new();
        urls(&body, &mut found);
        assert!(!found.is_empty(), "{path} has links: {body}");
        assert!(found.iter().all(|u| u.starts_with(&own)), "{path}: {found:?}");
    }
    let (status, _, body) = admin
        .send_raw(
            "POST",
            &format!("{own}/v3/auth/tokens"),
            &hostile,
            Some(&password_body("admin", ADMIN_PASSWORD, "admin")),
        )
        .await;
    assert_eq!(status, 201);
    let mut found = Vec::new();
    urls(&body["token"]["catalog"], &mut found);
    assert!(
        !found.is_empty() && found.iter().all(|u| u.starts_with(&own)),
        "{found:?}"
    );

    // Behind a trusted proxy the forwarded host counts — if it is a plain host.
    let proxied = keystone_app(Backend::Sqlite, |c| {
        c.api.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let admin = api_as(&proxied, "admin", ADMIN_PASSWORD, "admin").await;
    let forwarded = [("X-Forwarded-Host", "db.example.com"), ("X-Forwarded-Proto", "https")];
    let (_, _, body) = admin
        .send_raw("GET", &format!("{}/flavors", admin.base), &forwarded, None)
        .await;
    let mut found = Vec::new();
    urls(&body, &mut found);
    assert!(
        found.iter().all(|u| u.starts_with("https://db.example.com/")),
        "{found:?}"
    );
    let (_, _, body) = admin
        .send_raw("GET", &format!("{}/flavors", admin.base), &hostile[1..3], None)
        .await;
    let mut found = Vec::new();
    urls(&body, &mut found);
    assert!(found.iter().all(|u| u.starts_with(&admin.root)), "{found:?}");

    // A configured public URL is what links say.
    let public = keystone_app(Backend::Sqlite, |c| {
        c.api.public_url = "https://trove.example:8779/".into()
    })
    .await;
    let admin = api_as(&public, "admin", ADMIN_PASSWORD, "admin").await;
    let (_, _, body) = admin
        .send_raw("GET", &format!("{}/flavors", admin.base), &hostile, None)
        .await;
    let mut found = Vec::new();
    urls(&body, &mut found);
    assert!(
        found.iter().all(|u| u.starts_with("https://trove.example:8779/")),
        "{found:?}"
    );
}
