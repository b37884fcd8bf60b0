//! Running one instance's datastore server as a process on this host: as the instance's own
//! account when coffer is root (see [`super::account`]), detached from coffer (its own session, so a coffer crash
//! leaves it running), found again through its pid file checked against `/proc/<pid>/cmdline`.

use crate::guest::driver_error::DriverError;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::account::ServiceUser;

/// Creates `dir` (and parents) with `mode`, owned by `user` when given.
pub fn make_dir(dir: &Path, mode: u32, user: Option<ServiceUser>) -> Result<(), DriverError> {
    std::fs::create_dir_all(dir).map_err(DriverError::at(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(DriverError::at(dir))?;
    if let Some(u) = user {
        std::os::unix::fs::chown(dir, Some(u.uid), Some(u.gid))
            .map_err(|e| DriverError::Failed(format!("chown {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Writes `path` with `mode`, owned by `user` when given, whole or not at all (see
/// [`crate::files::write_whole`]): a server reading its configuration meanwhile finds the old
/// file or the new one.
pub fn write_file(path: &Path, contents: &str, mode: u32, user: Option<ServiceUser>) -> Result<(), DriverError> {
    let owner = user.map(|u| (u.uid, u.gid));
    crate::files::write_whole(path, contents.as_bytes(), mode, owner).map_err(DriverError::at(path))
}

/// Sets an existing file's (or directory's) mode, and its owner to `user` when given: through
/// a descriptor opened without following a symlink (nor waiting on a FIFO), so a service
/// account that put either at `path` cannot have coffer change another file.
pub fn write_mode_owner(path: &Path, mode: u32, user: Option<ServiceUser>) -> Result<(), DriverError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(DriverError::at(path))?;
    set_mode_owner(&file, path, mode, user)
}

/// Sets an open file's mode, and its owner to `user` when given (`path` names it in errors).
pub fn set_mode_owner(
    file: &std::fs::File,
    path: &Path,
    mode: u32,
    user: Option<ServiceUser>,
) -> Result<(), DriverError> {
    crate::files::set_mode_owner(file, mode, user.map(|u| (u.uid, u.gid))).map_err(DriverError::at(path))
}

/// Writes `secret` sealed under the master key (mode 0600): a volume holds no password in clear.
pub fn write_sealed(path: &Path, secret: &str, key: &crate::secrets::MasterKey) -> Result<(), DriverError> {
    write_file(path, &key.seal(secret), 0o600, None)
}

/// Reads what [`write_sealed`] wrote.
pub fn read_sealed(path: &Path, key: &crate::secrets::MasterKey) -> Result<String, DriverError> {
    let sealed = std::fs::read_to_string(path).map_err(DriverError::at(path))?;
    key.open(sealed.trim())
        .map_err(|e| DriverError::failed(format!("{}: {e}", path.display())))
}

/// A command that runs as `user`, in its own session, with output appended to `log`.
pub fn command(program: &Path, user: Option<ServiceUser>, log: &Path) -> Result<std::process::Command, DriverError> {
    let mut cmd = std::process::Command::new(program);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(DriverError::at(log))?;
    let err = out.try_clone().map_err(DriverError::at(log))?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir("/");
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid);
    }
    // SAFETY: setsid is async-signal-safe; it detaches the child from coffer's session so that
    // signals to coffer's process group (and coffer's death) do not reach the server.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    Ok(cmd)
}

/// Runs `cmd` to completion off the async threads; an error carries the log's tail.
pub async fn run(mut cmd: std::process::Command, what: &str, log: &Path) -> Result<(), DriverError> {
    let what = what.to_string();
    let log = log.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let status = cmd.status().map_err(DriverError::spawn(&what))?;
        if status.success() {
            Ok(())
        } else {
            Err(DriverError::Tool {
                program: what,
                ended: format!("failed ({status})"),
                log_tail: log_tail(&log),
            })
        }
    })
    .await?
}

/// The last lines of a log, for error messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// The pid in the first line of `pid_file`, if that process is alive and its command line
/// contains `marker` (so a recycled pid is never mistaken for our server).
pub fn running_pid(pid_file: &Path, marker: &str) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.contains(marker).then_some(pid)
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL; waits until the process is gone.
pub async fn kill(pid: i32, grace: Duration) {
    // SAFETY: kill(2) with a pid we read from our own pid file; no memory effects.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let hard = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}/stat")).exists() && Instant::now() < hard {
            if is_zombie(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// The processes using `volume`: those whose command line names it or whose working directory
/// lies in it (a server's children rename themselves but stay in its data directory), this
/// process excepted.
pub fn processes_using(volume: &Path) -> Vec<i32> {
    let name = volume.display().to_string();
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| *pid != own)
        .filter(|pid| {
            let in_volume = std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(volume));
            in_volume
                || std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(&name))
        })
        .collect()
}

/// Kills (SIGKILL) every process using `volume` — what an interrupted prepare left running
/// (initdb, mariadb-install-db, a half-started server), or what still holds a volume being
/// removed — and waits until none is left.
pub async fn reap(volume: &Path, within: Duration) -> Result<(), DriverError> {
    let deadline = Instant::now() + within;
    loop {
        let dir = volume.to_path_buf();
        let found = tokio::task::spawn_blocking(move || processes_using(&dir)).await?;
        if found.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DriverError::Failed(format!(
                "processes {found:?} still use {} after {} s",
                volume.display(),
                within.as_secs()
            )));
        }
        for pid in found {
            tracing::warn!(volume = %volume.display(), pid, "stopping a leftover process of the volume");
            // SAFETY: kill(2) on a pid just found in /proc; no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes a volume once nothing uses it (a process still writing makes a first attempt fail
/// with "Directory not empty": it is reaped and the removal tried again).
pub async fn remove_volume(volume: &Path) -> Result<(), DriverError> {
    if !volume.exists() {
        return Ok(());
    }
    for attempt in 0..5 {
        reap(volume, Duration::from_secs(30)).await?;
        let dir = volume.to_path_buf();
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await?;
        match removed {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if attempt == 4 => return Err(DriverError::Failed(format!("removing {}: {e}", volume.display()))),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Ok(())
}

/// Empties a volume for a prepare that starts over, keeping the guest process's own files.
pub async fn clear_volume(volume: &Path) -> Result<(), DriverError> {
    // A process of the interrupted attempt may still be writing as it dies (a "directory not
    // empty" while removing): reap and clear again, a few times.
    let mut attempt = 0;
    loop {
        reap(volume, Duration::from_secs(30)).await?;
        match clear_once(volume.to_path_buf()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::info!(volume = %volume.display(), "clearing the volume again: {e}");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes everything in the volume but the guest's own files, once.
async fn clear_once(dir: std::path::PathBuf) -> Result<(), DriverError> {
    tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("guest.") {
                continue;
            }
            let path = entry.path();
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            removed.map_err(|e| DriverError::Failed(format!("clearing {}: {e}", path.display())))?;
        }
        Ok(())
    })
    .await?
}

/// Whether something accepts TCP connections at `address:port`.
pub fn port_open(address: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((address, port)), Duration::from_millis(200)).is_ok()
}

/// Waits until `address:port` accepts connections, or `within` passes.
pub async fn wait_port(address: Ipv4Addr, port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if tokio::task::spawn_blocking(move || port_open(address, port))
            .await
            .unwrap_or(false)
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bytes used by the files below `dir` (the instance's real volume usage).
pub fn dir_usage_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader (a server reloading its configuration) never sees a file half-written, and the
    /// file keeps its mode; no temporary file stays behind. With an in-place rewrite (truncate,
    /// then write) the reader finds it empty within a few hundred rewrites.
    #[test]
    fn a_rewritten_file_is_read_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pg_ident.conf");
        let line = "coffer root os_admin\n".repeat(64);
        write_file(&path, &line, 0o600, None).expect("first write");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, line, done) = (path.clone(), line.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = std::fs::read_to_string(&path).expect("the file is always there");
                    assert_eq!(text, line, "read after {reads} whole reads");
                    reads += 1;
                }
                reads
            })
        };
        for _ in 0..2_000 {
            write_file(&path, &line, 0o600, None).expect("rewrite");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().expect("the reader saw only whole files");
        assert!(reads > 0, "the reader read while the file was rewritten");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("pg_ident.conf")],
            "no temporary file left"
        );
    }
}
