//! Guest agents as their own processes (`[compute] guest_host = "process"`): the task manager
//! hands an instance's guest what it needs in its volume — `guest.json` (instance, datastore,
//! address) and `guest.key` (its key, mode 0600) — and starts `coffer guest --instance-id ID`
//! detached, so the guest outlives the task manager that started it. The guest holds an
//! exclusive lock on `guest.lock` for its life and writes `guest.pid`: whichever task manager
//! asks, an instance never has two guests.

use crate::bus::signing::GuestKey;
use crate::compute::error::ComputeError;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// What a guest process is told about its instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestSpec {
    pub instance_id: String,
    pub manager: crate::manager::Manager,
    pub address: Option<String>,
    /// coffer's records make the instance a replica, with no change of its group under way
    /// (see [`crate::guest::Datastore::expect_replica`]).
    #[serde(default)]
    pub recorded_replica: bool,
}

fn spec_path(volume: &Path) -> PathBuf {
    volume.join("guest.json")
}

fn pid_path(volume: &Path) -> PathBuf {
    volume.join("guest.pid")
}

/// The spec a guest of this volume was started with, if any.
pub fn read_spec(volume: &Path) -> Option<GuestSpec> {
    let text = std::fs::read_to_string(spec_path(volume)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The guest process of this volume's instance, if one runs.
pub fn running(volume: &Path, instance_id: &str) -> Option<i32> {
    crate::guest::server::running_pid(&pid_path(volume), instance_id)
}

/// Starts the instance's guest process unless one runs; the spec and key are written first.
pub fn start(config: &Config, volume: &Path, spec: &GuestSpec, key: &GuestKey) -> Result<(), ComputeError> {
    if running(volume, &spec.instance_id).is_some() {
        return Ok(());
    }
    crate::guest::server::make_dir(volume, crate::files::TRAVERSE_ONLY, None)?;
    let json = serde_json::to_string_pretty(spec).map_err(|e| ComputeError::Refused(format!("guest.json: {e}")))?;
    crate::guest::server::write_file(&spec_path(volume), &json, 0o600, None)?;
    write_key(&volume.join("guest.key"), key)?;
    let exe = std::env::current_exe().map_err(|e| ComputeError::Refused(format!("coffer's own executable: {e}")))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(volume.join("guest.log"))
        .map_err(ComputeError::at(&volume.join("guest.log")))?;
    let mut cmd = std::process::Command::new(exe);
    if let Some(file) = &config.file {
        cmd.arg("--config").arg(file);
    }
    cmd.args(["guest", "--instance-id", &spec.instance_id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        // Its own process group: a signal to the task manager's group does not reach it.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| ComputeError::Refused(format!("starting the guest process: {e}")))?;
    tracing::info!(instance.id = %spec.instance_id, pid = child.id(), "guest process started");
    // Reaped when it exits, so it never lingers as a zombie of this process.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Writes the key readable by its owner only, from the first byte, and whole.
fn write_key(path: &Path, key: &GuestKey) -> Result<(), ComputeError> {
    crate::files::write_whole(path, key.to_base64().as_bytes(), 0o600, None).map_err(ComputeError::at(path))
}

/// Reads what the task manager left for the guest of `volume`, and takes the guest's lock:
/// `Err` when another guest process holds it.
pub fn claim(volume: &Path, instance_id: &str) -> Result<(GuestSpec, GuestKey, std::fs::File), ComputeError> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(volume.join("guest.lock"))
        .map_err(ComputeError::at(volume))?;
    // SAFETY: flock(2) on a descriptor we own; no memory effects.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(ComputeError::Refused(format!(
            "another guest process serves instance {instance_id}"
        )));
    }
    let spec = read_spec(volume)
        .ok_or_else(|| ComputeError::Refused(format!("{} has no readable guest.json", volume.display())))?;
    if spec.instance_id != instance_id {
        return Err(ComputeError::Refused(format!(
            "{} belongs to instance {}",
            volume.display(),
            spec.instance_id
        )));
    }
    let key_text =
        std::fs::read_to_string(volume.join("guest.key")).map_err(ComputeError::at(&volume.join("guest.key")))?;
    let key = GuestKey::from_base64(&key_text)?;
    std::fs::write(pid_path(volume), format!("{}\n", std::process::id()))
        .map_err(ComputeError::at(&pid_path(volume)))?;
    Ok((spec, key, lock))
}
