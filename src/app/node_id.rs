//! Which node id this process runs under: the owner written on the flows it claims, and its
//! name in the service list. `[taskmanager] node_id` when set; else the host name with a suffix
//! that is unique per process yet survives a restart: the process takes the first free slot in
//! `<data dir>/node-ids/` (a file it holds locked while it lives) and uses the suffix stored
//! there. Two task managers on one host get two slots, two ids; a restarted one takes its slot
//! back, and with it the flows it owned, at once.

use crate::config::Config;
use anyhow::Context as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Slots per data directory (processes of one host sharing it).
const SLOTS: usize = 64;

/// A node id, and the slot lock that keeps it ours while this value lives.
pub struct NodeId {
    pub id: String,
    _slot: Option<File>,
}

fn slots_dir(config: &Config) -> PathBuf {
    let instances = config.instances_dir();
    let base = instances.parent().map(PathBuf::from).unwrap_or_default();
    base.join("node-ids")
}

/// The configured id, or a slot's.
pub fn claim(config: &Config) -> anyhow::Result<NodeId> {
    if !config.taskmanager.node_id.is_empty() {
        return Ok(NodeId {
            id: config.taskmanager.node_id.clone(),
            _slot: None,
        });
    }
    let dir = slots_dir(config);
    crate::files::create_dirs(&dir, 0o700).with_context(|| format!("creating {}", dir.display()))?;
    for n in 0..SLOTS {
        let path = dir.join(format!("slot-{n}"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if file.try_lock().is_err() {
            continue; // another live process holds this slot
        }
        let mut suffix = String::new();
        file.read_to_string(&mut suffix)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut suffix = suffix.trim().to_string();
        if suffix.is_empty() || !suffix.chars().all(|c| c.is_ascii_alphanumeric()) {
            suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(suffix.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(NodeId {
            id: format!("{}-{suffix}", crate::config::host_name()),
            _slot: Some(file),
        });
    }
    anyhow::bail!(
        "all {SLOTS} node id slots in {} are held by running processes; set [taskmanager] node_id",
        dir.display()
    )
}
