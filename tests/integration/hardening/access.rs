//! `/mgmt` authorization whatever the path's spelling; tokens that expire when the token they
//! came from does, and can be validated and revoked; links that never echo a client's headers.

use crate::identity::{add_user, api_as, keystone_app, login, ADMIN_PASSWORD};
use crate::support::{eventually, Api, Backend};
use serde_json::{json, Value};

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

fn password_body(user: &str, password: &str, project: &str) -> String {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user,
        "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    .to_string()
}

fn token_body(token: &str) -> String {
    json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}).to_string()
}

#[actix_web::test]
async fn tokens_from_tokens_keep_their_expiry_and_can_be_revoked() {
    let app = keystone_app(Backend::Sqlite, |c| {
        c.auth.token_ttl_s = std::time::Duration::from_secs_f64(4.0)
    })
    .await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    let root = app.api.root.clone();
    let (status, first, body) = login(&root, &password_body("alice", "pw-a", "alpha")).await;
    assert_eq!(status, 201, "{body}");
    let first = first.expect("token");
    let expires = body["token"]["expires_at"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // A chain of re-issues never outlives the first token.
    let mut current = first.clone();
    for _ in 0..3 {
        let (status, next, body) = login(&root, &token_body(&current)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            body["token"]["expires_at"], expires,
            "a re-issued token keeps the expiry"
        );
        current = next.expect("token");
    }
    let project = body["token"]["project"]["id"].as_str().expect("project").to_string();
    let chained = app.api.as_project(&project, &current);
    assert_eq!(chained.get("/instances").await.0, 200);
    eventually(
        std::time::Duration::from_secs(10),
        "a re-issued token expires with its origin (401)",
        || async {
            let (status, body) = chained.get("/instances").await;
            if status == 401 {
                Ok(())
            } else {
                Err((status, body))
            }
        },
    )
    .await;
}

#[actix_web::test]
async fn tokens_are_validated_and_revoked_as_keystone_does() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    add_user(&app, "alpha", "anna", "pw-n", "member").await;
    let root = app.api.root.clone();
    let tokens = app.api.root.clone() + "/v3/auth/tokens";
    let (_, alice, body) = login(&root, &password_body("alice", "pw-a", "alpha")).await;
    let alice = alice.expect("token");
    let project = body["token"]["project"]["id"].as_str().expect("project").to_string();
    let (_, anna, _) = login(&root, &password_body("anna", "pw-n", "alpha")).await;
    let anna = anna.expect("token");
    let (_, admin, _) = login(&root, &password_body("admin", ADMIN_PASSWORD, "admin")).await;
    let admin = admin.expect("token");
    let plain = Api::new(&root);
    let as_caller = |t: &str| (("X-Auth-Token", t.to_string()), t.to_string());

    // Validation of one's own token, with and without the catalog.
    let (caller, _) = as_caller(&alice);
    let (status, headers, body) = plain
        .send_raw(
            "GET",
            &tokens,
            &[(caller.0, &caller.1), ("X-Subject-Token", &alice)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"]["user"]["name"], "alice");
    assert!(body["token"]["catalog"].is_array());
    assert_eq!(
        headers.get("x-subject-token").and_then(|v| v.to_str().ok()),
        Some(alice.as_str())
    );
    let (status, _, body) = plain
        .send_raw(
            "GET",
            &format!("{tokens}?nocatalog"),
            &[(caller.0, &caller.1), ("X-Subject-Token", &alice)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["token"].get("catalog").is_none(), "{body}");
    let (status, _, _) = plain
        .send_raw(
            "HEAD",
            &tokens,
            &[(caller.0, &caller.1), ("X-Subject-Token", &alice)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Another member's token is not alice's to see; an admin may.
    let (status, _, body) = plain
        .send_raw(
            "GET",
            &tokens,
            &[(caller.0, &caller.1), ("X-Subject-Token", &anna)],
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], 404);
    let (status, _, _) = plain
        .send_raw(
            "GET",
            &tokens,
            &[("X-Auth-Token", &admin), ("X-Subject-Token", &anna)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    // No caller token, or a bogus one: 401.
    let (status, _, body) = plain
        .send_raw("GET", &tokens, &[("X-Subject-Token", &anna)], None)
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!(401)));
    let (status, _, _) = plain
        .send_raw(
            "DELETE",
            &tokens,
            &[("X-Auth-Token", "bogus"), ("X-Subject-Token", &anna)],
            None,
        )
        .await;
    assert_eq!(status, 401);
    // alice cannot revoke anna's token; she revokes her own.
    let (status, _, _) = plain
        .send_raw(
            "DELETE",
            &tokens,
            &[(caller.0, &caller.1), ("X-Subject-Token", &anna)],
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.api.as_project(&project, &anna).get("/instances").await.0, 200);
    let (status, _, _) = plain
        .send_raw(
            "DELETE",
            &tokens,
            &[(caller.0, &caller.1), ("X-Subject-Token", &alice)],
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.api.as_project(&project, &alice).get("/instances").await.0,
        401,
        "revoked"
    );
    let (status, _, _) = plain
        .send_raw(
            "GET",
            &tokens,
            &[("X-Auth-Token", &admin), ("X-Subject-Token", &alice)],
            None,
        )
        .await;
    assert_eq!(status, 404, "a revoked token does not validate");
    assert_eq!(
        login(&root, &token_body(&alice)).await.0,
        401,
        "nor can it be exchanged"
    );
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
