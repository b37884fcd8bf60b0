//! coffer killed (SIGKILL) at every moment of real work: creates of PostgreSQL, MariaDB and Redis
//! interrupted anywhere from initdb to past ACTIVE, and a mixed workload over simulated and real
//! instances killed at random. Afterwards every instance is ACTIVE and usable, no flow is left
//! open, quota usage is what the instances hold, and deleting everything leaves no process or
//! directory behind.

mod sweep;
mod workload;

use crate::datastores::{ip_of, maria, pg, redis_conn};
use crate::support::{eventually, Api};
use serde_json::{json, Value};
use std::path::Path;

/// Processes whose command line names `dir` or whose working directory lies in it.
pub fn processes_under(dir: &Path) -> Vec<String> {
    let dir_text = dir.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let in_dir = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        if in_dir || cmdline.contains(&dir_text) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// Waits (30 s at most) until no process uses anything under `instances_dir` and no volume is
/// left in it.
pub async fn assert_nothing_left(instances_dir: &Path) {
    eventually(
        std::time::Duration::from_secs(30),
        "nothing left behind (processes, volumes)",
        || async {
            let strays = processes_under(instances_dir);
            let volumes: Vec<String> = std::fs::read_dir(instances_dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if strays.is_empty() && volumes.is_empty() {
                Ok(())
            } else {
                Err((strays, volumes))
            }
        },
    )
    .await
}

/// The body of a real instance's create, with a database `shop` and a user `app` where the
/// datastore has them.
pub fn real_create(datastore: &str, name: &str) -> Value {
    let mut instance = json!({"name": name, "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": datastore}});
    if datastore != "redis" {
        instance["databases"] = json!([{"name": "shop"}]);
        instance["users"] = json!([{"name": "app", "password": "app-secret", "databases": [{"name": "shop"}]}]);
    }
    json!({ "instance": instance })
}

/// Whether a real instance answers its own client as the user it was created with.
pub async fn usable(api: &Api, id: &str, datastore: &str, redis_password: Option<&str>) -> Result<(), String> {
    let view = api.instance(id).await.ok_or("instance gone")?;
    let ip = ip_of(&view);
    match datastore {
        "postgresql" => {
            let client = pg(&ip, "app", "app-secret", "shop").await?;
            client
                .simple_query("CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)")
                .await
                .map_err(|e| e.to_string())?;
        }
        "mariadb" => {
            use mysql_async::prelude::Queryable;
            let mut conn = maria(&ip, "app", "app-secret", "shop").await?;
            conn.query_drop("CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)")
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.disconnect().await;
        }
        "redis" => {
            let mut conn = redis_conn(&ip, redis_password.ok_or("no password")?).await?;
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        other => return Err(format!("{other} is not a real datastore")),
    }
    Ok(())
}

/// What a chaos run that did not settle shows about each instance left unsettled: its flows
/// (kind, step, status) and the lines coffer logged about it (the last `LINES`).
pub async fn explain_unsettled(api: &Api, log: &Path, ids: &[String]) -> String {
    const LINES: usize = 40;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = String::new();
    for id in ids {
        let flows = api.flows(id).await;
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(id.as_str())).collect();
        out.push_str(&format!(
            "\n=== {id}: flows {flows:?}; {} log lines, the last {LINES}:\n",
            lines.len()
        ));
        for line in &lines[lines.len().saturating_sub(LINES)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
