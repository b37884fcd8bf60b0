//! Creates of each real datastore with coffer SIGKILLed at ten moments, from 0.1 s after the
//! POST (initdb, mariadb-install-db still running) to past ACTIVE.

use super::{assert_nothing_left, real_create, usable};
use crate::datastores::BUILD_BOUND;
use crate::support::{eventually, Backend, CofferProcess, TestDb};
use std::time::Duration;

const DATASTORES: [&str; 3] = ["postgresql", "mariadb", "redis"];
/// Seconds from the POST to the SIGKILL, one round each.
const DELAYS: [f64; 10] = [0.1, 0.3, 0.6, 0.9, 1.3, 1.8, 2.4, 3.2, 4.5, 7.0];

#[actix_web::test]
async fn real_creates_survive_a_sigkill_at_any_moment() {
    let db = TestDb::new(Backend::Sqlite);
    let instances_dir = db.dir.path().join("instances");
    let env = [
        ("COFFER_QUOTA_INSTANCES", "100".to_string()),
        ("COFFER_QUOTA_VOLUMES", "200".to_string()),
    ];
    let mut coffer = CofferProcess::start(&db, &env).await;
    let mut created: Vec<(String, &str, Option<String>, f64)> = Vec::new();
    for delay in DELAYS {
        for datastore in DATASTORES {
            let body = real_create(datastore, &format!("{datastore}-{delay}"));
            let (status, resp) = coffer.api.send("POST", "/instances", Some(&body.to_string())).await;
            assert_eq!(status, 200, "{resp}");
            let id = resp["instance"]["id"].as_str().expect("id").to_string();
            let password = resp["instance"]["password"].as_str().map(str::to_string);
            created.push((id, datastore, password, delay));
        }
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        coffer.kill9();
        coffer = CofferProcess::start(&db, &env).await;
    }
    let api = coffer.api.clone();
    for (id, datastore, password, delay) in &created {
        let what = format!("{datastore} killed {delay} s in becomes ACTIVE");
        eventually(BUILD_BOUND, &what, || async {
            let view = api.instance(id).await.expect("instance exists");
            assert_ne!(
                view["status"], "ERROR",
                "{datastore} killed {delay} s into its create: {view}"
            );
            if view["status"] == "ACTIVE" && view["operating_status"] == "HEALTHY" {
                Ok(())
            } else {
                Err(view)
            }
        })
        .await;
        usable(&api, id, datastore, password.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{datastore} killed {delay} s into its create is not usable: {e}"));
    }
    for (id, ..) in &created {
        let (status, body) = api.send("DELETE", &format!("/instances/{id}"), None).await;
        assert_eq!(status, 202, "{body}");
    }
    for (id, ..) in &created {
        api.wait_for(id, Duration::from_secs(120), "gone", |v| v.is_none())
            .await;
        let account = coffer::guest::account::name_for(id);
        assert!(
            coffer::guest::account::lookup(&account).is_none(),
            "the account {account} is removed with its instance"
        );
    }
    assert_nothing_left(&instances_dir).await;
}
