//! What a node checks before it joins a deployment: one master key for all (a host without the
//! key does not make a second one; a process with another key refuses to start), and a
//! configured node id no live process holds.

use crate::config::Config;
use crate::db::Db;
use crate::services::Services;

/// A deployment that has a master key (its fingerprint is recorded) never gets a second one: a
/// process on a host the key was not copied to refuses to start instead of making its own.
pub(super) async fn refuse_a_second_key(config: &Config, db: &Db) -> anyhow::Result<()> {
    let path = std::path::PathBuf::from(&config.secrets.master_key_file);
    if path.exists() {
        return Ok(());
    }
    let known = db
        .run(|c| crate::db::models::cluster::known_fact(c, "master_key_fingerprint"))
        .await?;
    // The fingerprint is recorded only after its key file is in place: a process of this host
    // starting at the same moment may have put it there since we looked.
    if let Some(fingerprint) = known.filter(|_| !path.exists()) {
        anyhow::bail!(
            "no master key at {}, and this deployment has one (fingerprint {fingerprint}): copy the key file \
             from a host of this deployment",
            path.display()
        );
    }
    Ok(())
}

/// Every process of a deployment must seal under one master key: the first process records
/// the key's fingerprint, and a process with another key refuses to start.
pub(super) async fn check_master_key(services: &Services) -> anyhow::Result<()> {
    let mine = services.secrets.fingerprint().to_string();
    let ours = mine.clone();
    let known = services
        .db
        .run(move |c| crate::db::models::cluster::settle_fact(c, "master_key_fingerprint", &ours))
        .await?;
    anyhow::ensure!(
        known == mine,
        "the master key at {} is not the deployment's (fingerprint {mine}, the database expects {known}): \
         copy the key file from a host of this deployment",
        services.config.secrets.master_key_file
    );
    Ok(())
}

/// A configured node id must not be another live process's: two task managers under one id
/// would each run the other's flows. A process of this host that is gone does not count.
pub(super) async fn check_node_id_free(services: &Services) -> anyhow::Result<()> {
    let (node, me) = (services.node_id.clone(), services.service.id.clone());
    let since = crate::db::now_ms() - services.config.cluster.down_after_s.as_millis() as i64;
    let holders = services
        .db
        .run(move |c| {
            crate::db::models::cluster::ServiceRow::live_with_node(c, &node, &["taskmanager", "all"], since, &me)
        })
        .await?;
    let host = crate::config::host_name();
    // SAFETY: kill(pid, 0) only asks whether the process exists.
    let alive = |pid: i64| unsafe { libc::kill(pid as i32, 0) } == 0;
    // A row of this very process is an earlier node of it, stopped (tests restart in-process).
    let me = i64::from(std::process::id());
    let live = |s: &&crate::db::models::cluster::ServiceRow| s.host != host || (s.pid != me && alive(s.pid));
    if let Some(other) = holders.iter().find(live) {
        anyhow::bail!(
            "node id {:?} is in use by a live {} (pid {} on {}, seen {} ms ago): give this process another \
             [taskmanager] node_id, or leave it empty for a unique one",
            services.node_id,
            other.role,
            other.pid,
            other.host,
            crate::db::now_ms() - other.last_seen
        );
    }
    Ok(())
}
