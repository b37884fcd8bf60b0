//! Keystone tokens: a token re-issued from a token keeps its expiry, tokens are validated
//! (`GET /v3/auth/tokens`) and revoked (`DELETE`) as Keystone does them.

use crate::identity::{add_user, keystone_app, login, ADMIN_PASSWORD};
use crate::support::{eventually, Api, Backend};
use serde_json::json;

pub fn password_body(user: &str, password: &str, project: &str) -> String {
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
