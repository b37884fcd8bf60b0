//! Backups of real datastores: known data → full backup → more data → incremental backup →
//! each restored into a new instance holds exactly what existed at its backup's time, read back
//! as the restored instance's user (a MariaDB full backup registered from a copy of its object
//! too, and an incremental's copy refused). And a dump killed on every attempt ends FAILED with
//! why.

use super::{assert_completed, registered, request_backup, restore, wait_backup};
use crate::datastores::{create, ip_of, maria, pg, redis_conn, BUILD_BOUND};
use crate::support::{eventually, Backend, TestApp};
use mysql_async::prelude::Queryable;
use serde_json::json;
use std::time::Duration;

const BACKUP_BOUND: Duration = Duration::from_secs(120);

fn with_app_user() -> serde_json::Value {
    json!({"databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-pw", "databases": [{"name": "shop"}]}]})
}

/// WAL segment files in an instance's archive.
fn archived_segments(archive: &std::path::Path) -> usize {
    std::fs::read_dir(archive)
        .map(|d| d.flatten().filter(|e| e.file_name().len() == 24).count())
        .unwrap_or(0)
}

async fn pg_count(ip: &str) -> i64 {
    let client = pg(ip, "app", "app-pw", "shop").await.expect("app connects");
    client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get::<_, i64>(0)
}

#[actix_web::test]
async fn postgresql_full_and_incremental_backups_restore_exactly() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, _) = create(api, "postgresql", with_app_user()).await;
    let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
    let client = pg(&ip, "app", "app-pw", "shop").await.expect("app connects");
    client
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100)")
        .await
        .expect("write");
    // Enough writes for several WAL segments in the archive (what retention must prune).
    client
        .batch_execute("CREATE TABLE filler AS SELECT repeat(md5(i::text), 8) AS s FROM generate_series(1, 150000) i")
        .await
        .expect("filler");
    let archive = crate::datastores::volume(&app, &id).join("archive");
    eventually(Duration::from_secs(30), "3 WAL segments archived", || async {
        let n = archived_segments(&archive);
        if n >= 3 {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    let full = request_backup(api, &id, json!({})).await;
    assert_completed(&wait_backup(api, &full, BACKUP_BOUND).await);
    client
        .batch_execute("INSERT INTO t SELECT generate_series(101, 150)")
        .await
        .expect("write more");
    let inc = request_backup(api, &id, json!({"incremental": 1})).await;
    let inc_view = wait_backup(api, &inc, BACKUP_BOUND).await;
    assert_completed(&inc_view);
    assert_eq!(inc_view["parent_id"], full.as_str());
    client.batch_execute("INSERT INTO t VALUES (999)").await.expect("after");

    for (backup, rows) in [(&full, 100), (&inc, 150)] {
        let (restored, _) = restore(api, backup, Some("postgresql")).await;
        let view = api.wait_active_within(&restored, BUILD_BOUND).await;
        let rip = ip_of(&view);
        assert_ne!(rip, ip, "the restored instance has its own address");
        assert_eq!(pg_count(&rip).await, rows, "restore of {backup}");
    }
    assert_eq!(pg_count(&ip).await, 151, "the source is untouched");

    // With its backups deleted, the instance's WAL archive keeps no more than the newest WAL.
    let (status, _) = api.send("DELETE", &format!("/backups/{full}"), None).await;
    assert_eq!(status, 202);
    super::wait_backup_gone(api, &inc).await;
    eventually(
        Duration::from_secs(30),
        "the WAL archive pruned to 2 segments",
        || async {
            let n = archived_segments(&archive);
            if n <= 2 {
                Ok(())
            } else {
                Err(n)
            }
        },
    )
    .await;
}

async fn maria_count(ip: &str) -> i64 {
    let mut conn = maria(ip, "app", "app-pw", "shop").await.expect("app connects");
    let n: Option<i64> = conn.query_first("SELECT count(*) FROM t").await.expect("count");
    let _ = conn.disconnect().await;
    n.unwrap_or(-1)
}

#[actix_web::test]
async fn mariadb_full_and_incremental_backups_restore_exactly() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, _) = create(api, "mariadb", with_app_user()).await;
    let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
    let mut conn = maria(&ip, "app", "app-pw", "shop").await.expect("app connects");
    conn.query_drop("CREATE TABLE t (x int) ENGINE=InnoDB")
        .await
        .expect("table");
    conn.query_drop("INSERT INTO t VALUES (1),(2),(3)")
        .await
        .expect("write");
    let full = request_backup(api, &id, json!({})).await;
    assert_completed(&wait_backup(api, &full, BACKUP_BOUND).await);
    conn.query_drop("INSERT INTO t VALUES (4),(5)")
        .await
        .expect("write more");
    let inc = request_backup(api, &id, json!({"parent_id": full})).await;
    assert_completed(&wait_backup(api, &inc, BACKUP_BOUND).await);
    conn.query_drop("INSERT INTO t VALUES (6)").await.expect("after");
    let _ = conn.disconnect().await;

    // Copies of both objects, as if brought from another region: the full one registers, the
    // incremental (named alike) is refused by what its dump says; the original object is
    // refused as another backup's own.
    let (_, full_view) = api.get(&format!("/backups/{full}")).await;
    let (_, inc_view) = api.get(&format!("/backups/{inc}")).await;
    let (full_loc, inc_loc) = (
        full_view["backup"]["locationRef"].as_str().expect("location"),
        inc_view["backup"]["locationRef"].as_str().expect("location"),
    );
    let root = registered::file_of(full_loc)
        .ancestors()
        .nth(3)
        .expect("store root")
        .to_path_buf();
    let version = full_view["backup"]["datastore"]["version_id"]
        .as_str()
        .expect("version");
    let full_copy = registered::copy_in_store(full_loc, &root, "t1/copied-full/1.xbstream.zst", None);
    let inc_copy = registered::copy_in_store(inc_loc, &root, "t1/copied-inc/1.xbstream.zst", None);
    for (location, why) in [(&inc_copy, "not a full mariadb backup"), (&inc_loc.to_string(), "own")] {
        let body = registered::register_body(location, version, &inc_view["backup"]["size"], None);
        let (status, reply) = api.send("POST", "/backups", Some(&body)).await;
        assert_eq!(status, 400, "{location}: {reply}");
        let message = reply["badRequest"]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{location}: {reply}");
    }
    let body = registered::register_body(&full_copy, version, &full_view["backup"]["size"], None);
    let (status, reply) = api.send("POST", "/backups", Some(&body)).await;
    assert_eq!(status, 202, "{reply}");
    let imported = reply["backup"]["id"].as_str().expect("id").to_string();

    for (backup, rows) in [(&full, 3), (&inc, 5), (&imported, 3)] {
        let (restored, _) = restore(api, backup, None).await;
        let rip = ip_of(&api.wait_active_within(&restored, BUILD_BOUND).await);
        assert_ne!(rip, ip);
        assert_eq!(maria_count(&rip).await, rows, "restore of {backup}");
    }
    assert_eq!(maria_count(&ip).await, 6, "the source is untouched");
}

#[actix_web::test]
async fn redis_snapshot_restores_exactly_with_the_new_password() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (id, created) = create(api, "redis", json!({})).await;
    let password = created["password"].as_str().expect("password").to_string();
    let ip = ip_of(&api.wait_active_within(&id, BUILD_BOUND).await);
    let mut conn = redis_conn(&ip, &password).await.expect("connect");
    let set = |k: &'static str, v: &'static str| redis::cmd("SET").arg(k).arg(v).clone();
    set("k1", "v1").query_async::<()>(&mut conn).await.expect("set");
    set("k2", "v2").query_async::<()>(&mut conn).await.expect("set");
    let full = request_backup(api, &id, json!({})).await;
    assert_completed(&wait_backup(api, &full, BACKUP_BOUND).await);
    set("k3", "v3").query_async::<()>(&mut conn).await.expect("set");
    // Redis has no incrementals: 501.
    let (status, body) = api
        .send(
            "POST",
            "/backups",
            Some(&json!({"backup": {"name": "i", "instance": id, "parent_id": full}}).to_string()),
        )
        .await;
    assert_eq!(status, 501, "{body}");

    let (restored, view) = restore(api, &full, None).await;
    let new_password = view["password"]
        .as_str()
        .expect("the restore's own password")
        .to_string();
    assert_ne!(new_password, password);
    let rip = ip_of(&api.wait_active_within(&restored, BUILD_BOUND).await);
    let mut rconn = redis_conn(&rip, &new_password)
        .await
        .expect("connect with the new password");
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg("k1")
        .arg("k2")
        .arg("k3")
        .query_async(&mut rconn)
        .await
        .expect("mget");
    assert_eq!(values, vec![Some("v1".into()), Some("v2".into()), None]);
    assert!(
        redis_conn(&rip, &password).await.is_err() || {
            let mut old = redis_conn(&rip, &password).await.expect("conn");
            redis::cmd("GET")
                .arg("k1")
                .query_async::<Option<String>>(&mut old)
                .await
                .is_err()
        },
        "the source's password does not open the restored instance"
    );
}

/// Kills every pg_basebackup of the instance whose run directory is `run_dir`, until stopped.
fn kill_dumps(run_dir: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> usize {
    let mut killed = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("pg_basebackup") && cmdline.contains(&run_dir) {
                // SAFETY: kill(2) of a dump process of this test's own instance.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    killed
}

#[actix_web::test]
async fn a_dump_killed_on_every_attempt_ends_failed_with_the_reason() {
    let app = TestApp::start(Backend::Sqlite, |c| c.backup.max_attempts = 2).await;
    let api = &app.api;
    let (id, _) = create(api, "postgresql", with_app_user()).await;
    api.wait_active_within(&id, BUILD_BOUND).await;
    let run_dir = crate::datastores::volume(&app, &id).join("run").display().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || kill_dumps(run_dir, stop))
    };
    let bk = request_backup(api, &id, json!({})).await;
    let done = wait_backup(api, &bk, BACKUP_BOUND).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.join().expect("killer");
    assert_eq!(done["status"], "FAILED", "{done}");
    let reason = done["fault"]["message"].as_str().unwrap_or("");
    assert!(
        reason.contains("killed by signal 9") && reason.contains("2 attempts"),
        "{done}"
    );
    assert!(killed >= 2, "each attempt ran a dump that was killed ({killed})");
    let view = api.wait_active(&id).await;
    assert_eq!(view["status"], "ACTIVE", "the instance left BACKUP: {view}");
    // And once the dumps are left alone, a backup completes.
    let ok = request_backup(api, &id, json!({})).await;
    assert_completed(&wait_backup(api, &ok, BACKUP_BOUND).await);
}
