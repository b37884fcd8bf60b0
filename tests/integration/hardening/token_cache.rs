//! The API answers validated tokens and the catalog from memory; memory never answers what
//! the database no longer holds: a revoked token is refused by the very next request, on the
//! API process that revoked it and on every other one; a role taken away by hand (SQL) ends
//! the token; a remembered token never reaches another project's data.

use crate::amqp::{amqp_url, BROKER};
use crate::hardening::tokens::password_body;
use crate::identity::{add_user, keystone_app, login, ADMIN_PASSWORD};
use crate::support::{eventually, instance_status, Api, Backend, CofferProcess, EventStream, TestDb};
use std::time::Duration;

/// `DELETE /v3/auth/tokens` of `token` by itself, on the API at `root`.
async fn revoke(root: &str, token: &str) -> u16 {
    let (status, _, body) = Api::new(root)
        .send_raw(
            "DELETE",
            &format!("{root}/v3/auth/tokens"),
            &[("X-Auth-Token", token), ("X-Subject-Token", token)],
            None,
        )
        .await;
    assert!(status == 204 || status == 404, "revoke: {status} {body}");
    status
}

/// Asks enough times that the token and the catalog are surely remembered.
async fn warm(api: &Api) {
    for _ in 0..5 {
        assert_eq!(api.get("/instances").await.0, 200);
        assert_eq!(api.get("/datastores").await.0, 200);
    }
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_revoked_and_never_reaches_another_project() {
    let app = keystone_app(Backend::Sqlite, |_| {}).await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    add_user(&app, "beta", "bob", "pw-b", "member").await;
    let root = app.api.root.clone();
    let (_, alice, body) = login(&root, &password_body("alice", "pw-a", "alpha")).await;
    let (alice, alpha) = (
        alice.expect("token"),
        body["token"]["project"]["id"].as_str().expect("alpha").to_string(),
    );
    let (_, bob, body) = login(&root, &password_body("bob", "pw-b", "beta")).await;
    let (bob, beta) = (
        bob.expect("token"),
        body["token"]["project"]["id"].as_str().expect("beta").to_string(),
    );
    let as_alice = app.api.as_project(&alpha, &alice);
    let as_bob = app.api.as_project(&beta, &bob);
    let mine = as_alice.create("alices").await;
    let theirs = as_bob.create("bobs").await;
    warm(&as_alice).await;
    warm(&as_bob).await;

    // A remembered token speaks for its own project only.
    let (status, body) = app.api.as_project(&beta, &alice).get("/instances").await;
    assert_eq!(status, 403, "alice's token on beta's URL: {body}");
    let (status, _) = as_alice.get(&format!("/instances/{theirs}")).await;
    assert_eq!(status, 404, "bob's instance through alice's project");
    let (_, listed) = as_alice.get("/instances").await;
    let ids: Vec<&str> = listed["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, vec![mine.as_str()], "alice sees her instance only");

    // Revoked: the very next request is refused, with no time to settle.
    assert_eq!(revoke(&root, &alice).await, 204);
    for path in ["/instances", "/datastores", &format!("/instances/{mine}")] {
        let (status, body) = as_alice.get(path).await;
        assert_eq!(status, 401, "a revoked token on {path}: {body}");
    }
    assert_eq!(as_bob.get("/instances").await.0, 200, "bob's token is untouched");

    // A role taken away by hand, outside coffer's API, ends bob's token as well.
    let user = "bob".to_string();
    app.node
        .services
        .db
        .run(move |c| {
            use diesel::RunQueryDsl;
            let sql = "DELETE FROM role_assignments WHERE user_id = (SELECT id FROM users WHERE name = ?)";
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::Text, _>(user)
                .execute(c)
                .map_err(coffer::db::DbError::from)
        })
        .await
        .expect("role removed");
    eventually(Duration::from_secs(5), "bob's token ends with his role", || async {
        match as_bob.get("/instances").await {
            (401, _) => Ok(()),
            other => Err(other),
        }
    })
    .await;
}

/// Two API processes over RabbitMQ and PostgreSQL: a token both remember, revoked through one,
/// is refused by the other on its very next request.
#[actix_web::test]
async fn a_token_revoked_through_one_api_process_is_refused_at_once_by_every_other() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = vec![
        ("COFFER_BUS_TRANSPORT", "amqp".to_string()),
        ("COFFER_BUS_AMQP_URL", amqp_url()),
        ("COFFER_AUTH_MODE", "keystone".into()),
        ("COFFER_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        (
            "COFFER_SECRETS_MASTER_KEY_FILE",
            db.dir.path().join("master.key").display().to_string(),
        ),
    ];
    let first = CofferProcess::start_role(&db, Some("api"), &env).await;
    let second = CofferProcess::start_role(&db, Some("api"), &env).await;
    let roots = [first.api.root.clone(), second.api.root.clone()];
    for (revoker, other) in [(0, 1), (1, 0)] {
        let (status, token, body) = login(&roots[revoker], &password_body("admin", ADMIN_PASSWORD, "admin")).await;
        assert_eq!(status, 201, "{body}");
        let token = token.expect("token");
        let project = body["token"]["project"]["id"].as_str().expect("project").to_string();
        let apis = roots.clone().map(|r| Api::new(&r).as_project(&project, &token));
        warm(&apis[revoker]).await;
        warm(&apis[other]).await;
        assert_eq!(revoke(&roots[revoker], &token).await, 204);
        for (which, api) in [(other, &apis[other]), (revoker, &apis[revoker])] {
            let (status, body) = api.get("/instances").await;
            assert_eq!(
                status, 401,
                "API process {which} after a revocation through {revoker}: {body}"
            );
            let (status, _) = api.get("/datastores").await;
            assert_eq!(status, 401, "API process {which}: /datastores");
        }
    }
}

/// A stream lives no longer than its token: revoked, it ends at the next keep-alive. A
/// member's stream is its project's only, and names no node.
#[actix_web::test]
async fn an_event_stream_ends_when_its_token_is_revoked() {
    let app = keystone_app(Backend::Sqlite, |c| {
        c.api.events_keepalive_ms = Duration::from_millis(200);
    })
    .await;
    add_user(&app, "alpha", "alice", "pw-a", "member").await;
    let root = app.api.root.clone();
    let (_, token, body) = login(&root, &password_body("alice", "pw-a", "alpha")).await;
    let (token, alpha) = (
        token.expect("token"),
        body["token"]["project"]["id"].as_str().expect("alpha").to_string(),
    );
    let url = format!("{root}/v1.0/{alpha}/events");
    let (status, _, body) = Api::new(&root)
        .send_raw(
            "GET",
            &format!("{url}?all_projects=true"),
            &[("X-Auth-Token", &token)],
            None,
        )
        .await;
    assert_eq!(status, 403, "a member asks for every project's events: {body}");
    let stream = EventStream::connect_as(&url, Some(&token), None).await;
    let id = app.api.as_project(&alpha, &token).create("streamed").await;
    let seen = stream
        .wait_for("the member's create, ACTIVE", instance_status(&id, "ACTIVE"))
        .await;
    let flows: Vec<_> = seen.iter().filter(|e| e.kind == "flow").collect();
    assert!(
        !flows.is_empty() && flows.iter().all(|e| e.data["flow"].get("owner").is_none()),
        "{flows:?}"
    );
    assert!(!stream.ended());
    assert_eq!(revoke(&root, &token).await, 204);
    eventually(Duration::from_secs(10), "the revoked token's stream ends", || async {
        if stream.ended() {
            Ok(())
        } else {
            Err("still open")
        }
    })
    .await;
}
