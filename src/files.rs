//! What coffer keeps on disk is for its own eyes: it runs with umask 077, its directories are
//! 0700 (0711 where a datastore's service user must pass through to an instance's volume) and
//! its files 0600 — the SQLite database with its WAL, the master key, the admin password,
//! backup objects, instance volumes. Files an earlier version left readable are fixed at start.
//! Every file coffer writes whole goes through [`write_whole`] (or [`write_new`] when only the
//! first writer may put it in place): staged beside it with its mode and owner, then renamed.

use crate::config::Config;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories a datastore's service user must pass through (never list): instance volumes
/// and the directories above them that coffer owns.
pub const TRAVERSE_ONLY: u32 = 0o711;

/// Makes every file and directory this process creates private from then on (umask 077);
/// the datastore servers and tools it starts inherit it.
pub fn set_private_umask() {
    // SAFETY: umask(2) has no preconditions and cannot fail.
    unsafe { libc::umask(0o077) };
}

/// The mode with group and other bits cleared — but a directory keeps its others' search bit
/// when it had one (a volume's service user passes through it).
fn private_mode(mode: u32, is_dir: bool) -> u32 {
    let owner = mode & 0o700;
    match is_dir && mode & 0o001 != 0 {
        true => owner | 0o011,
        false => owner,
    }
}

/// Clears group and other read/write bits below (and on) `root`, never following symlinks; a
/// unix socket is left as its server made it (its directory is what guards it).
pub fn make_tree_private(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let file_type = meta.file_type();
        if file_type.is_symlink() || std::os::unix::fs::FileTypeExt::is_socket(&file_type) {
            continue;
        }
        let mode = meta.mode() & 0o7777;
        let wanted = (mode & 0o7000) | private_mode(mode & 0o777, meta.is_dir());
        if wanted != mode {
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)) {
                tracing::warn!(path = %path.display(), "cannot make it private: {e}");
            }
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
}

/// Sets `path`'s mode if it exists.
fn chmod_if_present(path: &Path, mode: u32) {
    if path.exists() {
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(path = %path.display(), "cannot set mode {mode:o}: {e}");
        }
    }
}

/// Creates `dir` and the missing directories above it, each with `mode` (umask aside).
pub fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    for d in missing.iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Who owns a file coffer writes: `(uid, gid)`, or coffer's own account when `None`.
pub type Owner = Option<(u32, u32)>;

/// Writes `path` with `mode` (and `owner`), whole or not at all: the contents go to a new file
/// beside it, flushed to disk, which then replaces `path`. A reader meanwhile, or a coffer
/// killed mid-write, finds the old file or the new one, never an empty or half-written one; the
/// mode and owner are set before a byte is written, so nobody else can read it even for a moment.
pub fn write_whole(path: &Path, contents: &[u8], mode: u32, owner: Owner) -> std::io::Result<()> {
    let staged = stage(path, contents, mode, owner)?;
    staged.persist(path).map_err(|e| e.error)?;
    sync_parent(path);
    Ok(())
}

/// Like [`write_whole`], but only when `path` does not exist yet: `Ok(false)` when it does (a
/// process starting beside this one wrote it first), and then `path` is left as it was.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<bool> {
    let staged = stage(path, contents, mode, None)?;
    match staged.persist_noclobber(path) {
        Ok(_) => {
            sync_parent(path);
            Ok(true)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.error),
    }
}

/// The directory `path` is in ("." for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new file beside `path` holding `contents` on disk, with its mode and owner already set.
fn stage(path: &Path, contents: &[u8], mode: u32, owner: Owner) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix(".coffer-write-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(parent_of(path))?;
    // The umask may have narrowed the mode the file was created with.
    set_mode_owner(file.as_file(), mode, owner)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Sets an open file's mode, and its owner when given. Through the file, never its path: the
/// directory may be a service account's, which could swap the name for a symlink to a file of
/// root's.
pub fn set_mode_owner(file: &std::fs::File, mode: u32, owner: Owner) -> std::io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Makes a rename in `path`'s directory survive a power cut. The file is in place by then, so
/// a failure here is told, not returned.
fn sync_parent(path: &Path) {
    if let Err(e) = std::fs::File::open(parent_of(path)).and_then(|dir| dir.sync_all()) {
        tracing::warn!(path = %path.display(), "written, but its directory was not flushed to disk: {e}");
    }
}

/// Fixes what an earlier start left readable: the database files, the key and password files,
/// and the trees of the backup and instance directories; `coffer-data/` itself when it is the
/// default location.
pub fn fix_at_start(config: &Config) {
    if let Some(path) = config.database.url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            chmod_if_present(Path::new(&format!("{path}{suffix}")), 0o600);
        }
    }
    chmod_if_present(Path::new(&config.secrets.master_key_file), 0o600);
    chmod_if_present(Path::new(&config.auth.admin_password_file), 0o600);
    if config.backup.store == "local" {
        make_tree_private(&config.backup.local_dir());
    }
    let instances = config.instances_dir();
    make_tree_private(&instances);
    // A volume's sockets live in its run directory, which only the server's user may enter.
    if let Ok(volumes) = std::fs::read_dir(&instances) {
        for volume in volumes.flatten() {
            chmod_if_present(&volume.path().join("run"), 0o700);
        }
    }
    let default_home = Path::new("coffer-data");
    if default_home.is_dir() {
        let mode = match std::path::absolute(&instances)
            .ok()
            .zip(std::path::absolute(default_home).ok())
            .is_some_and(|(i, home)| i.starts_with(home))
        {
            true => TRAVERSE_ONLY,
            false => 0o700,
        };
        chmod_if_present(default_home, mode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_lose_group_and_other_access() {
        assert_eq!(private_mode(0o644, false), 0o600);
        assert_eq!(private_mode(0o755, true), 0o711);
        assert_eq!(private_mode(0o750, true), 0o700);
        assert_eq!(private_mode(0o660, false), 0o600);
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a/b/f");
        create_dirs(file.parent().expect("parent"), 0o700).expect("dirs");
        std::fs::write(&file, "x").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        make_tree_private(dir.path());
        let mode = std::fs::metadata(&file).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn whole_writes_replace_and_new_writes_never_do() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        assert!(write_new(&path, b"first", 0o600).expect("new"));
        assert!(!write_new(&path, b"second", 0o600).expect("new again"));
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        write_whole(&path, b"third", 0o640, None).expect("whole");
        assert_eq!(std::fs::read(&path).expect("read"), b"third");
        assert_eq!(std::fs::metadata(&path).expect("meta").mode() & 0o777, 0o640);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().collect();
        assert_eq!(left.len(), 1, "no staged file is left beside it");
    }
}
