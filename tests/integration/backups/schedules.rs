//! Backup schedules: runs on time, retention keeps exactly the newest, and a coffer restart in
//! between neither skips nor doubles a run.

use crate::support::{eventually, Api, Backend, CofferProcess, TestApp, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// Polls the instance's backups until `done` holds for them, or panics after `within`.
async fn wait_backups(
    api: &Api,
    id: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually(within, what, || async {
        let list = backups_of(api, id).await;
        if done(&list) {
            Ok(list)
        } else {
            Err(list)
        }
    })
    .await
}

fn completed(list: &[Value]) -> usize {
    list.iter().filter(|b| b["status"] == "COMPLETED").count()
}

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
        c.compute.simulated_prepare_ms = std::time::Duration::from_millis(50);
        c.backup.min_interval_s = std::time::Duration::from_secs(1);
        c.backup.scheduler_tick_s = std::time::Duration::from_secs_f64(0.2);
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
    let first = wait_backups(api, &id, Duration::from_secs(10), "a first run", |l| !l.is_empty()).await;
    let first_due = due_of(&first[0]);
    // Four runs later, retention has deleted the older ones: exactly the 2 newest remain.
    let live = wait_backups(api, &id, Duration::from_secs(20), "4 runs with 2 kept", |l| {
        l.iter().map(due_of).max().is_some_and(|d| d >= first_due + 3) && completed(l) == 2 && l.len() == 2
    })
    .await;
    let mut dues: Vec<i64> = live.iter().map(due_of).collect();
    dues.sort();
    assert_eq!(dues[1] - dues[0], 1, "the two kept are consecutive runs: {live:?}");
    let (status, _) = api
        .send("DELETE", &format!("/instances/{id}/backup_schedule"), None)
        .await;
    assert_eq!(status, 202);
    let settled = wait_backups(api, &id, Duration::from_secs(10), "settled", |l| {
        l.iter().all(|b| b["status"] == "COMPLETED") && completed(l) == 2
    })
    .await;
    let last_due = settled.iter().map(due_of).max();
    // Three scheduler passes (counted, not timed) after the removal start no run.
    let passes = || {
        app.node
            .services
            .metrics
            .scheduler_passes
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let removed_at = passes();
    eventually(Duration::from_secs(10), "three scheduler passes", || async {
        (passes() >= removed_at + 3).then_some(()).ok_or("not yet")
    })
    .await;
    let after = backups_of(api, &id).await;
    assert_eq!(
        after.iter().map(due_of).max(),
        last_due,
        "no runs after the schedule is removed: {after:?}"
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
    let before = wait_backups(&coffer.api, &id, Duration::from_secs(15), "2 runs", |l| l.len() >= 2)
        .await
        .len();
    coffer.kill9();
    let coffer = CofferProcess::start(&db, &env).await;
    let list = wait_backups(
        &coffer.api,
        &id,
        Duration::from_secs(20),
        "2 more runs after the restart",
        |l| l.len() >= before + 2 && l.iter().all(|b| b["status"] == "COMPLETED"),
    )
    .await;
    let mut dues: Vec<i64> = list.iter().map(due_of).collect();
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
