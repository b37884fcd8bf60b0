//! Nothing coffer writes — database, keys, volumes, backup objects — is readable by other local
//! users; a volume's sockets sit in a directory only the server's user may enter.

use crate::backups::{request_backup, wait_backup};
use crate::datastores::{create, BUILD_BOUND};
use crate::support::{Backend, TestApp};
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What under `root` (not `root` itself) other users could read or enter wrongly.
fn exposed_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("root")
        .flatten()
        .map(|e| e.path())
        .collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.mode() & 0o777;
        let kind = meta.file_type();
        if kind.is_symlink() {
            continue;
        }
        if kind.is_socket() {
            let parent = std::fs::metadata(path.parent().expect("parent")).expect("parent meta");
            if parent.mode() & 0o077 != 0 {
                found.push(format!(
                    "{} (socket in a directory of mode {:o})",
                    path.display(),
                    parent.mode() & 0o777
                ));
            }
            continue;
        }
        if meta.is_dir() {
            if mode & 0o066 != 0 {
                found.push(format!("{} (directory {mode:o})", path.display()));
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if mode & 0o066 != 0 {
            found.push(format!("{} (file {mode:o})", path.display()));
        }
    }
    found
}

#[actix_web::test]
async fn nothing_coffer_writes_is_readable_by_others() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let api = &app.api;
    let (pg, _) = create(
        api,
        "postgresql",
        json!({"databases": [{"name": "shop"}],
        "users": [{"name": "app", "password": "app-secret", "databases": [{"name": "shop"}]}]}),
    )
    .await;
    let (maria, _) = create(api, "mariadb", json!({"databases": [{"name": "shop"}]})).await;
    let (redis, _) = create(api, "redis", json!({})).await;
    for id in [&pg, &maria, &redis] {
        api.wait_active_within(id, BUILD_BOUND).await;
    }
    let backup = request_backup(api, &pg, json!({})).await;
    let done = wait_backup(api, &backup, BUILD_BOUND).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let root = app._db.dir.path();
    for expected in ["coffer.db", "master.key", "instances", "backups"] {
        assert!(root.join(expected).exists(), "{expected} is where the test looks");
    }
    let exposed = exposed_under(root);
    assert!(exposed.is_empty(), "readable by others: {exposed:#?}");
    for id in [&pg, &maria, &redis] {
        api.send("DELETE", &format!("/instances/{id}"), None).await;
    }
    for id in [&pg, &maria, &redis] {
        api.wait_gone(id).await;
    }
}

#[actix_web::test]
async fn files_left_readable_are_fixed_at_start() {
    let app = TestApp::start(Backend::Sqlite, |_| {}).await;
    let root = app._db.dir.path().to_path_buf();
    let config = (*app.node.services.config).clone();
    app.node.stop().await;
    drop(app.node);
    let backups = root.join("backups/t1/old");
    std::fs::create_dir_all(&backups).expect("dir");
    std::fs::write(backups.join("0.dump.zst"), "old").expect("write");
    let volume = root.join("instances/old-volume");
    std::fs::create_dir_all(volume.join("run")).expect("dir");
    std::fs::write(volume.join("settings.json"), "{}").expect("write");
    for (path, mode) in [
        (root.join("coffer.db"), 0o644),
        (root.join("master.key"), 0o644),
        (backups.join("0.dump.zst"), 0o644),
        (backups.clone(), 0o755),
        (volume.join("settings.json"), 0o644),
        (volume.join("run"), 0o755),
    ] {
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    }
    let node = coffer::app::start(config, coffer::app::Role::All)
        .await
        .expect("restart");
    let exposed = exposed_under(&root);
    assert!(
        exposed.is_empty(),
        "still readable by others after a start: {exposed:#?}"
    );
    let run_mode = std::fs::metadata(volume.join("run")).expect("run").mode() & 0o777;
    assert_eq!(run_mode, 0o700, "a volume's socket directory");
    node.stop().await;
}
