//! Backup schedules: runs on time, retention keeps exactly the newest, and a coffer restart in
//! between neither skips nor doubles a run.

use crate::support::{Api, Backend, CofferProcess, TestApp, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

async fn schedule(api: &Api, id: &str, body: Value) -> Value {
    let (status, resp) = api
        .send(
            "PUT",
            &format!("/instances/{id}/backup_schedule"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    resp
}

async fn backups_of(api: &Api, id: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/instances/{id}/backups?limit=100")).await;
    assert_eq!(status, 200, "{body}");
    body["backups"].as_array().expect("backups").clone()
}

/// The due time a scheduled backup's name carries (`scheduled full <RFC 3339>`).
fn due_of(b: &Value) -> i64 {
    let name = b["name"].as_str().unwrap_or("");
    let stamp = name.rsplit(' ').next().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(stamp)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| panic!("scheduled backup name {name}"))
}

#[actix_web::test]
async fn a_schedule_runs_on_time_and_keeps_the_two_newest() {
    let app = TestApp::start(Backend::Sqlite, |c| {
        c.compute.simulated_prepare_ms = 50;
        c.backup.min_interval_s = 1;
        c.backup.scheduler_tick_s = 0.2;
    })
    .await;
    let api = &app.api;
    let id = api.create("scheduled").await;
    api.wait_active(&id).await;
    // Bad schedules: 400 with Trove's fault body; another project's instance: 404.
    for bad in [
        json!({}),
        json!({"backup_schedule": {"full_backup_interval": 0}}),
        json!({"backup_schedule": {"full_backup_at": "25:00"}}),
    ] {
        let (status, body) = api
            .send(
                "PUT",
                &format!("/instances/{id}/backup_schedule"),
                Some(&bad.to_string()),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = api
        .as_project("t2", "x")
        .get(&format!("/instances/{id}/backup_schedule"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api.get(&format!("/instances/{id}/backup_schedule")).await;
    assert_eq!(status, 404, "no schedule yet");

    let shown = schedule(
        api,
        &id,
        json!({"backup_schedule": {"full_backup_interval": 1, "retention_count": 2}}),
    )
    .await;
    assert_eq!(shown["backup_schedule"]["retention_count"], 2, "{shown}");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let live = backups_of(api, &id).await;
    let completed: Vec<&Value> = live.iter().filter(|b| b["status"] == "COMPLETED").collect();
    assert!(completed.len() <= 2, "retention keeps at most 2 completed: {live:?}");
    assert!(!completed.is_empty(), "runs happened: {live:?}");
    // The newest are the ones kept: their due times are the latest made.
    let newest_due = live.iter().map(due_of).max().expect("some");
    assert!(completed.iter().any(|b| due_of(b) >= newest_due - 2), "{live:?}");
    let (status, _) = api
        .send("DELETE", &format!("/instances/{id}/backup_schedule"), None)
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = backups_of(api, &id).await.len();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after: Vec<Value> = backups_of(api, &id).await;
    assert!(
        after.len() <= before,
        "no runs after the schedule is removed: {before} -> {after:?}"
    );
    assert!(
        after.iter().filter(|b| b["status"] == "COMPLETED").count() == 2,
        "exactly the 2 newest remain: {after:?}"
    );
}

#[actix_web::test]
async fn a_restart_neither_skips_nor_doubles_a_run() {
    let db = TestDb::new(Backend::Sqlite);
    let env = [
        ("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "50".to_string()),
        ("COFFER_BACKUP_MIN_INTERVAL_S", "1".to_string()),
        ("COFFER_BACKUP_SCHEDULER_TICK_S", "0.2".to_string()),
    ];
    let coffer = CofferProcess::start(&db, &env).await;
    let id = coffer.api.create("scheduled").await;
    coffer.api.wait_active(&id).await;
    schedule(
        &coffer.api,
        &id,
        json!({"backup_schedule": {"full_backup_interval": 2}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    coffer.kill9();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let coffer = CofferProcess::start(&db, &env).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let mut dues: Vec<i64> = backups_of(&coffer.api, &id).await.iter().map(due_of).collect();
    coffer.kill9();
    dues.sort();
    assert!(dues.len() >= 4, "runs before and after the restart: {dues:?}");
    for pair in dues.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            2,
            "consecutive runs are one interval apart (none skipped or doubled): {dues:?}"
        );
    }
}
