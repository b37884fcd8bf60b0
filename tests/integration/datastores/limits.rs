//! A real datastore at its limits: a full volume (read-only until a resize) and the access
//! rules (`allowed_cidrs`) as the server's host rules.

use super::*;

#[actix_web::test]
async fn full_volume_turns_read_only_until_resized() {
    // One volume GB is 64 MiB here, so a test can fill it.
    let app = TestApp::start(Backend::Sqlite, |c| {
        c.testing.enabled = true;
        c.testing.volume_unit_mb = 64;
    })
    .await;
    let api = &app.api;
    let (id, _) = create(
        api,
        "postgresql",
        json!({"volume": {"size": 2}, "databases": [{"name": "d"}],
        "users": [{"name": "u", "password": "pw", "databases": [{"name": "d"}]}]}),
    )
    .await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    let ip = ip_of(&view);
    let conn = pg(&ip, "u", "pw", "d").await.expect("connect");
    conn.batch_execute("CREATE TABLE fill (s text)").await.expect("create");
    let mut full = None;
    for _ in 0..40 {
        // Random text does not compress: each round adds about 8 MiB (and its WAL).
        let _ = conn
            .batch_execute("INSERT INTO fill SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 250), generate_series(1, 1000) g GROUP BY g")
            .await;
        full = api
            .instance(&id)
            .await
            .filter(|v| v["fault"]["message"].as_str().is_some_and(|m| m.contains("read-only")));
        if full.is_some() {
            break;
        }
    }
    let full = full.expect("writing past the volume size leaves a fault");
    assert!(full["volume"]["used"].as_f64().expect("used") > 2.0, "{full}");
    let again = pg(&ip, "u", "pw", "d").await.expect("reads still work");
    let refused = again.batch_execute("INSERT INTO fill VALUES ('more')").await;
    let ro = again
        .query_one("SHOW default_transaction_read_only", &[])
        .await
        .map(|r| r.get::<_, String>(0));
    assert!(
        refused.as_ref().is_err_and(|e| format!("{e:?}").contains("read-only")),
        "writes are refused: {refused:?} {ro:?}"
    );

    let (status, body) = api
        .send(
            "POST",
            &format!("/instances/{id}/action"),
            Some(r#"{"resize": {"volume": {"size": 10}}}"#),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let grown = api
        .wait_for(&id, BUILD_BOUND, "resized volume", |v| {
            v.is_some_and(|v| v["volume"]["size"] == 10 && v["status"] == "ACTIVE")
        })
        .await
        .expect("view");
    assert!(grown.get("fault").is_none(), "the fault is lifted: {grown}");
    let writer = pg(&ip, "u", "pw", "d").await.expect("connect");
    writer
        .batch_execute("INSERT INTO fill VALUES ('more')")
        .await
        .expect("writes work again");
}

#[actix_web::test]
async fn allowed_cidrs_become_the_servers_host_rules() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, _) = create(
        api,
        "postgresql",
        json!({"access": {"allowed_cidrs": ["10.1.0.0/16"]}, "nics": [{"net-id": "net-a"}],
        "databases": [{"name": "d"}], "users": [{"name": "u", "password": "pw", "databases": [{"name": "d"}]}]}),
    )
    .await;
    let view = api.wait_active_within(&id, BUILD_BOUND).await;
    assert_eq!(view["access"]["allowed_cidrs"], json!(["10.1.0.0/16"]));
    assert_eq!(
        view["addresses"][0]["network"], "net-a",
        "the create's network is echoed"
    );
    // Refused by the host firewall (coffer as root) or by pg_hba, which has the rule either way.
    let refused = pg(&ip_of(&view), "u", "pw", "d").await;
    assert!(refused.is_err(), "a client outside the CIDRs is refused");
    let hba = std::fs::read_to_string(volume(&app, &id).join("data/pg_hba.conf")).expect("pg_hba.conf");
    assert!(hba.contains("host all all 10.1.0.0/16 scram-sha-256"), "{hba}");
    // The firewall rule (when there is one) goes with the instance.
    let ip = ip_of(&view);
    let (status, _) = api.send("DELETE", &format!("/instances/{id}"), None).await;
    assert_eq!(status, 202);
    api.wait_gone(&id).await;
    let rules = std::process::Command::new("/usr/sbin/nft")
        .args(["list", "table", "inet", "coffer_access"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    assert!(!rules.contains(&format!("{ip} . 5432")), "{rules}");
}
