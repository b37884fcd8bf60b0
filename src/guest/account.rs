//! Each real instance's own OS account. When coffer runs as root, an instance's server runs
//! under a system user and group of its own (`coffer-<24 hex digits of the instance id>`),
//! created when its driver is made and removed after its volume at delete: its files are 0700
//! and its own, so a superuser of one instance (`COPY … FROM PROGRAM`, `LOAD_FILE`,
//! `CONFIG SET dir`) reaches nothing of another's. When coffer is not root, servers run as
//! coffer's own user, shared by every instance, and root is granted less (see the drivers).

use super::host_error::HostError;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// The OS account a datastore server runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceUser {
    pub uid: u32,
    pub gid: u32,
}

/// coffer's accounts come from their own range of system ids, apart from the distribution's.
const ID_RANGE: (u32, u32) = (800_000, 899_999);
/// Name prefix of every instance account (the chaos test looks for strays by it).
pub const PREFIX: &str = "coffer-";

/// useradd and userdel lock /etc/passwd: one at a time in this process (other processes are
/// waited for by the tools themselves, and retried here).
static ACCOUNT_TOOLS: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Whether coffer runs as root, so instances get accounts of their own.
pub fn isolating() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The account name of an instance: `coffer-` and the first 24 hex digits of its id (names
/// are at most 32 characters).
pub fn name_for(instance_id: &str) -> String {
    let hex: String = instance_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(24)
        .collect();
    format!("{PREFIX}{hex}")
}

/// Looks an account up by name (re-entrant: several guests look up at once).
pub fn lookup(name: &str) -> Option<ServiceUser> {
    let cname = CString::new(name).ok()?;
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to live storage of the stated size; the result points into it.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut record,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some(ServiceUser {
        uid: record.pw_uid,
        gid: record.pw_gid,
    })
}

/// The name of the account coffer runs as (what a server that authenticates its peers over a
/// socket sees of coffer).
pub fn own_name() -> Option<String> {
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in `lookup`; geteuid has no preconditions.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut record,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: pw_name points into `buffer`, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(record.pw_name) };
    name.to_str().ok().map(str::to_string)
}

/// Runs an account tool, retrying while another process holds the password files' lock.
fn run_tool(program: &str, args: &[&str], ok_codes: &[i32]) -> Result<(), HostError> {
    let _one = ACCOUNT_TOOLS.lock();
    let mut attempt = 0;
    loop {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|source| HostError::Spawn {
                program: program.to_string(),
                source,
            })?;
        let code = out.status.code().unwrap_or(-1);
        if out.status.success() || ok_codes.contains(&code) {
            return Ok(());
        }
        // 10: cannot lock the password files; 8 (userdel): a process of the user still runs.
        if matches!(code, 8 | 10) && attempt < 20 {
            attempt += 1;
            std::thread::sleep(Duration::from_millis(100 * attempt));
            continue;
        }
        return Err(HostError::Failed {
            program: program.to_string(),
            args: args.join(" "),
            code,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
}

/// The account an instance's server runs as: its own (made now if missing) when coffer is
/// root, else `None` (coffer's own user). Blocking: a process is run.
pub fn ensure(instance_id: &str) -> Result<Option<ServiceUser>, HostError> {
    if !isolating() {
        return Ok(None);
    }
    let name = name_for(instance_id);
    if let Some(user) = lookup(&name) {
        return Ok(Some(user));
    }
    let comment = format!("coffer instance {instance_id}");
    let (min, max) = (ID_RANGE.0.to_string(), ID_RANGE.1.to_string());
    let limits = [
        format!("SYS_UID_MIN={min}"),
        format!("SYS_UID_MAX={max}"),
        format!("SYS_GID_MIN={min}"),
        format!("SYS_GID_MAX={max}"),
    ];
    let mut args = vec![
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        "--comment",
        &comment,
    ];
    for limit in &limits {
        args.extend(["-K", limit.as_str()]);
    }
    args.push(&name);
    // 9: the name exists (another process made it a moment ago).
    run_tool("/usr/sbin/useradd", &args, &[9])?;
    let user =
        lookup(&name).ok_or_else(|| HostError::Invalid(format!("account {name} missing right after useradd")))?;
    tracing::info!(instance.id = %instance_id, account = %name, uid = user.uid, "instance account created");
    Ok(Some(user))
}

/// Removes an instance's account and group (after its volume: nothing of it runs any more).
pub async fn remove(instance_id: &str) -> Result<(), HostError> {
    if !isolating() {
        return Ok(());
    }
    let id = instance_id.to_string();
    tokio::task::spawn_blocking(move || remove_now(&id))
        .await
        .map_err(|e| HostError::Task(e.to_string()))?
}

/// [`remove`], blocking.
pub fn remove_now(instance_id: &str) -> Result<(), HostError> {
    let name = name_for(instance_id);
    if !isolating() || lookup(&name).is_none() {
        return Ok(());
    }
    // 6: no such user (removed by a delete that ran before a crash).
    run_tool("/usr/sbin/userdel", &[&name], &[6])?;
    tracing::info!(instance.id = %instance_id, account = %name, "instance account removed");
    Ok(())
}

/// Makes a volume its instance's own when coffer adopts one whose server ran under another
/// account (an older coffer's shared `postgres`/`mysql`/`redis` users): that server is stopped
/// (SIGTERM, then SIGKILL after 60 s) and whatever the old account owned in the volume passes
/// to `user`. Nothing to do when the data directory is `user`'s already.
pub async fn take_over_volume(volume: &Path, user: Option<ServiceUser>) -> Result<(), HostError> {
    let Some(user) = user else { return Ok(()) };
    let Ok(meta) = std::fs::metadata(volume.join("data")) else {
        return Ok(());
    };
    let old = meta.uid();
    if old == user.uid || old == 0 {
        return Ok(());
    }
    tracing::warn!(volume = %volume.display(), old_uid = old, uid = user.uid, "the volume belongs to another account; moving it to the instance's own");
    let dir = volume.to_path_buf();
    let theirs = tokio::task::spawn_blocking(move || {
        let pids = super::server::processes_using(&dir);
        pids.into_iter()
            .filter(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == old))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| HostError::Task(e.to_string()))?;
    for pid in theirs {
        super::server::kill(pid, Duration::from_secs(60)).await;
    }
    let dir = volume.to_path_buf();
    tokio::task::spawn_blocking(move || reown(&dir, old, user))
        .await
        .map_err(|e| HostError::Task(e.to_string()))?
}

/// Gives every file below `dir` owned by `old` to `user` (links themselves, not their targets).
fn reown(dir: &Path, old: u32, user: ServiceUser) -> Result<(), HostError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| HostError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.uid() == old {
                std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid)).map_err(|source| HostError::Io {
                    path: path.clone(),
                    source,
                })?;
            }
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_follow_the_id() {
        let name = name_for("5f0c2a9e-1b2c-4d3e-9f00-aabbccddeeff");
        assert_eq!(name, "coffer-5f0c2a9e1b2c4d3e9f00aabb");
        assert!(name.len() <= 32);
    }
}
