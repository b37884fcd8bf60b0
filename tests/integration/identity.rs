//! Identity and tenancy: coffer's Keystone subset, tokens on every route, projects kept apart,
//! roles, and the identity routes' answers to bad input.

use crate::support::{eventually, Api, Backend, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-secret";

pub async fn keystone_app(backend: Backend, tweak: impl FnOnce(&mut coffer::config::Config)) -> TestApp {
    TestApp::start(backend, |c| {
        c.auth.mode = coffer::config::AuthMode::Keystone;
        c.auth.admin_password = ADMIN_PASSWORD.into();
        tweak(c);
    })
    .await
}

/// Adds `user` with `role` in `project` (created if needed); returns the project id.
pub async fn add_user(app: &TestApp, project: &str, user: &str, password: &str, role: &str) -> String {
    let (project, user, password, role) = (
        project.to_string(),
        user.to_string(),
        password.to_string(),
        role.to_string(),
    );
    let (p, _) = app
        .node
        .services
        .db
        .run(move |c| coffer::identity::create_user(c, &project, &user, &password, &role))
        .await
        .expect("create user");
    p.id
}

fn password_auth(user: &str, password: &str, project: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user,
        "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
}

/// Logs in over HTTP; returns (status, token, body).
pub async fn login(root: &str, body: &str) -> (u16, Option<String>, Value) {
    let mut resp = awc::Client::default()
        .post(format!("{root}/v3/auth/tokens"))
        .insert_header(("Content-Type", "application/json"))
        .send_body(body.to_string())
        .await
        .expect("POST /v3/auth/tokens");
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.body().limit(1 << 20).await.unwrap_or_default();
    (
        resp.status().as_u16(),
        token,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The API as `user` (logged in with a password).
pub async fn api_as(app: &TestApp, user: &str, password: &str, project: &str) -> Api {
    let (status, token, body) = login(&app.api.root, &password_auth(user, password, project).to_string()).await;
    assert_eq!(status, 201, "{body}");
    let project_id = body["token"]["project"]["id"].as_str().expect("project id");
    app.api.as_project(project_id, &token.expect("X-Subject-Token"))
}

#[actix_web::test]
async fn token_and_catalog_as_clients_need_them() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    let (status, token, body) = login(
        &app.api.root,
        &password_auth("admin", ADMIN_PASSWORD, "admin").to_string(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(token.is_some(), "X-Subject-Token");
    let t = &body["token"];
    assert!(t["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')));
    assert_eq!(t["roles"][0]["name"], "admin");
    let project = t["project"]["id"].as_str().expect("project");
    let db = t["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == "database")
        .expect("database");
    let interfaces: Vec<&str> = db["endpoints"]
        .as_array()
        .expect("eps")
        .iter()
        .filter_map(|e| e["interface"].as_str())
        .collect();
    assert_eq!(interfaces, ["public", "internal", "admin"]);
    for ep in db["endpoints"].as_array().expect("eps") {
        assert_eq!(ep["region"], "RegionOne");
        assert!(ep["url"].as_str().expect("url").ends_with(&format!("/v1.0/{project}")));
    }
    // The token method, and the project by id.
    let by_token = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token.clone().expect("t")}},
        "scope": {"project": {"id": project}}}});
    let (status, again, _) = login(&app.api.root, &by_token.to_string()).await;
    assert_eq!(status, 201);
    let api = app.api.as_project(project, &again.expect("token"));
    assert_eq!(api.get("/flavors").await.0, 200);
    let (status, version) = app.api.get("v3").await;
    assert_eq!(status, 200);
    assert_eq!(version["version"]["id"], "v3.14");
}

#[actix_web::test]
async fn projects_are_kept_apart_and_roles_hold() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    add_user(&app, "beta", "bob", "pw-b", "member").await;
    add_user(&app, "alpha", "rita", "pw-r", "reader").await;
    let alice = api_as(&app, "alice", "pw-a", "alpha").await;
    let bob = api_as(&app, "bob", "pw-b", "beta").await;
    let rita = api_as(&app, "rita", "pw-r", "alpha").await;

    let id = alice.create("alphas").await;
    let (_, list) = bob.get("/instances").await;
    assert_eq!(list["instances"], json!([]), "beta sees none of alpha's instances");
    assert_eq!(bob.get(&format!("/instances/{id}")).await.0, 404);
    assert_eq!(bob.send("DELETE", &format!("/instances/{id}"), None).await.0, 404);
    assert_eq!(
        bob.send("POST", &format!("/instances/{id}/action"), Some(r#"{"restart": {}}"#))
            .await
            .0,
        404
    );

    let (_, list) = rita.get("/instances").await;
    assert_eq!(list["instances"][0]["id"], id.as_str(), "a reader reads");
    let body = r#"{"instance": {"name": "no", "flavorRef": "1", "datastore": {"type": "simulated"}}}"#;
    assert_eq!(
        rita.send("POST", "/instances", Some(body)).await.0,
        403,
        "a reader cannot create"
    );
    assert_eq!(
        rita.send("DELETE", &format!("/instances/{id}"), None).await.0,
        403,
        "nor delete"
    );
    assert_eq!(alice.get("/mgmt/actors").await.0, 403, "a member cannot reach /mgmt");

    let mut wrong_tenant = alice.clone();
    wrong_tenant.base = bob.base.clone();
    assert_eq!(
        wrong_tenant.get("/instances").await.0,
        403,
        "the URL tenant must be the token's project"
    );
    let mut unknown = alice.clone();
    unknown.token = Some("not-a-token".into());
    assert_eq!(unknown.get("/instances").await.0, 401);
    let mut none = alice.clone();
    none.token = None;
    assert_eq!(none.get("/instances").await.0, 401);
}

#[actix_web::test]
async fn expired_tokens_are_refused() {
    let app = keystone_app(Backend::Sqlite, |c| {
        c.auth.token_ttl_s = std::time::Duration::from_secs_f64(1.0)
    })
    .await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    assert_eq!(admin.get("/flavors").await.0, 200);
    eventually(Duration::from_secs(10), "the token expires (401)", || async {
        let (status, body) = admin.get("/flavors").await;
        if status == 401 {
            Ok(())
        } else {
            Err((status, body))
        }
    })
    .await;
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[actix_web::test]
async fn bad_logins_look_alike_and_are_braked() {
    let app = keystone_app(Backend::Sqlite, |c| c.auth.max_failed_logins = 1000).await;
    let root = app.api.root.clone();
    let (wrong_status, _, wrong_body) = login(&root, &password_auth("admin", "nope", "admin").to_string()).await;
    let (unknown_status, _, unknown_body) = login(&root, &password_auth("nobody", "nope", "admin").to_string()).await;
    assert_eq!((wrong_status, unknown_status), (401, 401));
    assert_eq!(
        wrong_body, unknown_body,
        "an unknown user answers exactly as a wrong password"
    );
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let t = Instant::now();
        login(&root, &password_auth("admin", &format!("nope{i}"), "admin").to_string()).await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        login(
            &root,
            &password_auth(&format!("nobody{i}"), "nope", "admin").to_string(),
        )
        .await;
        unknown.push(t.elapsed());
    }
    println!(
        "login latency, median of 50: wrong password {:?}, unknown user {:?}",
        median(wrong),
        median(unknown)
    );
    assert_eq!(login(&root, "{not json").await.0, 400);
    assert_eq!(
        login(&root, r#"{"auth": {"identity": {"methods": ["kerberos"]}}}"#)
            .await
            .0,
        400
    );
    let huge = format!(r#"{{"auth": "{}"}}"#, "x".repeat(2 << 20));
    let status = login(&root, &huge).await.0;
    assert_eq!(status, 413, "a huge body is refused as too large");

    let braked = keystone_app(Backend::Sqlite, |c| c.auth.max_failed_logins = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            login(&braked.api.root, &password_auth("admin", "nope", "admin").to_string())
                .await
                .0,
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429], "repeated failures are braked");
}

#[actix_web::test]
async fn admin_views_and_reset_status() {
    let app = keystone_app(Backend::Sqlite, |c| {
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(60_000)
    })
    .await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    let alice = api_as(&app, "alice", "pw-a", "alpha").await;
    let admin = api_as(&app, "admin", ADMIN_PASSWORD, "admin").await;
    let id = alice.create("stuck").await;
    let mine = alice.instance(&id).await.expect("view");
    assert!(mine.get("tenant_id").is_none(), "tenant_id is for admins only: {mine}");
    assert_eq!(alice.get("/mgmt/instances").await.0, 403);
    let (status, all) = admin.get("/mgmt/instances").await;
    assert_eq!(status, 200);
    let listed = all["instances"]
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert!(listed["tenant_id"].as_str().is_some_and(|t| !t.is_empty()), "{listed}");
    // A build that will not finish: only an admin may reset it.
    let reset = r#"{"reset_status": {}}"#;
    assert_eq!(
        alice
            .send("POST", &format!("/instances/{id}/action"), Some(reset))
            .await
            .0,
        403
    );
    let mut as_admin_of_alpha = admin.clone();
    as_admin_of_alpha.base = alice.base.clone();
    assert_eq!(
        as_admin_of_alpha.get("/instances").await.0,
        403,
        "an admin token is still scoped to its project"
    );
    let owner = add_user(&app, "alpha", "ops", "pw-o", "admin").await;
    let ops = api_as(&app, "ops", "pw-o", "alpha").await;
    assert!(ops.base.ends_with(&owner));
    assert_eq!(
        ops.send("POST", &format!("/instances/{id}/action"), Some(reset))
            .await
            .0,
        202
    );
    let after = ops.instance(&id).await.expect("view");
    assert_ne!(after["status"], "BUILD", "reset_status ends the build task: {after}");
    let flows = ops.flows(&id).await;
    assert!(
        flows.iter().all(|f| f.2 != "running"),
        "the stuck flow was cancelled: {flows:?}"
    );
}

/// Every refusal under `/v3` is in Keystone's error shape, whoever makes it: the request-line
/// checks, the router's 404 and 405, a query that does not parse.
#[actix_web::test]
async fn identity_refusals_are_in_keystones_shape() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let root = app.api.root.clone();
    for (method, path, status) in [
        ("GET", "/v3/auth/tokens?nocatalog=%01", 400),
        ("GET", "/v3/auth/tokens?nocatalog=yes&nocatalog=no", 400),
        ("PUT", "/v3/auth/tokens", 405),
        ("GET", "/v3/no-such-thing", 404),
    ] {
        let (got, headers, body) = app.api.send_raw(method, &format!("{root}{path}"), &[], None).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], status, "{method} {path}: {body}");
        assert!(
            body["error"]["message"].is_string() && body["error"]["title"].is_string(),
            "{body}"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
        if status == 405 {
            assert!(headers.get("allow").is_some(), "the Allow header is kept");
        }
    }
    // Elsewhere, Trove's shape.
    let (got, _, body) = app
        .api
        .send_raw("GET", &format!("{root}/no-such-thing"), &[], None)
        .await;
    assert_eq!(got, 404);
    assert_eq!(body["itemNotFound"]["code"], 404, "{body}");
}
