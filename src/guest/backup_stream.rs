//! The guest's backup pipeline: a datastore's own dump (a command's standard output, or a file)
//! → zstd → SHA-256 → the object store, part by part; and back: object → SHA-256 check →
//! zstd → the datastore's own loader. The compressing and hashing run on a blocking thread;
//! what is in memory at once is a few upload parts, whatever the backup's size.

use crate::guest::driver_error::DriverError;
use crate::storage::{BackupStore, PART_BYTES};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Parts queued between the compressor and the upload.
const QUEUED_PARTS: usize = 2;

/// What a backup reads from.
pub enum DumpSource {
    /// A dump command's standard output (its standard error goes to `log`).
    Command {
        cmd: Box<Command>,
        name: String,
        log: PathBuf,
    },
    /// A file the datastore wrote (a Redis RDB snapshot).
    File(PathBuf),
    /// A small dump already in memory (the simulated datastore's state).
    Bytes(Vec<u8>),
}

/// What was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Bytes stored (compressed).
    pub size: u64,
    /// SHA-256 of the stored object, hex.
    pub checksum: String,
    /// Bytes of the dump before compression.
    pub raw_size: u64,
}

/// Hashes, counts and cuts the compressed stream into upload parts.
struct PartSink {
    buf: Vec<u8>,
    parts: mpsc::Sender<Bytes>,
    hasher: Sha256,
    stored: Arc<AtomicU64>,
}

impl PartSink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(PART_BYTES));
        self.hasher.update(&part);
        self.stored.fetch_add(part.len() as u64, Ordering::Relaxed);
        self.parts
            .blocking_send(Bytes::from(part))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for PartSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Describes how a command ended, for a failure reason.
fn ended(name: &str, status: std::process::ExitStatus, log: &Path) -> DriverError {
    use std::os::unix::process::ExitStatusExt;
    let ended = match status.signal() {
        Some(sig) => format!("was killed by signal {sig}"),
        None => format!("failed ({status})"),
    };
    DriverError::Tool {
        program: name.to_string(),
        ended,
        log_tail: super::server::log_tail(log),
    }
}

/// Runs on a blocking thread: dump → zstd → parts.
fn compress(source: DumpSource, level: i32, mut sink: PartSink) -> Result<Stored, DriverError> {
    let (mut reader, mut child, name, log): (Box<dyn Read>, _, String, Option<PathBuf>) = match source {
        DumpSource::Command { mut cmd, name, log } => {
            cmd.stdout(Stdio::piped());
            let mut child = cmd.spawn().map_err(DriverError::spawn(&name))?;
            let out = child
                .stdout
                .take()
                .ok_or_else(|| DriverError::Failed(format!("{name}: no output")))?;
            (Box::new(out), Some(child), name, Some(log))
        }
        DumpSource::File(path) => {
            let file = std::fs::File::open(&path).map_err(DriverError::at(&path))?;
            (Box::new(file), None, path.display().to_string(), None)
        }
        DumpSource::Bytes(bytes) => (Box::new(std::io::Cursor::new(bytes)), None, "dump".to_string(), None),
    };
    let result = (|| {
        let mut encoder = zstd::stream::write::Encoder::new(&mut sink, level)
            .map_err(|e| DriverError::failed(format!("compressing: {e}")))?;
        // zstd's own worker threads compress while this one reads the dump and hashes.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        encoder
            .multithread(workers)
            .map_err(|e| DriverError::Failed(format!("zstd workers: {e}")))?;
        let mut block = vec![0u8; 1024 * 1024];
        let mut raw = 0u64;
        loop {
            let n = reader
                .read(&mut block)
                .map_err(|e| DriverError::Failed(format!("reading {name}: {e}")))?;
            if n == 0 {
                break;
            }
            raw += n as u64;
            encoder
                .write_all(&block[..n])
                .map_err(|e| DriverError::Failed(format!("compressing: {e}")))?;
        }
        encoder
            .finish()
            .map_err(|e| DriverError::Failed(format!("compressing: {e}")))?;
        Ok::<u64, DriverError>(raw)
    })();
    drop(reader);
    if let Some(child) = child.as_mut() {
        if result.is_err() {
            let _ = child.kill();
        }
        let status = child.wait().map_err(|e| DriverError::Failed(format!("{name}: {e}")))?;
        if result.is_ok() && !status.success() {
            return Err(ended(&name, status, log.as_deref().unwrap_or(Path::new("/dev/null"))));
        }
    }
    let raw_size = result?;
    sink.send().map_err(|e| DriverError::failed(format!("storing: {e}")))?;
    Ok(Stored {
        size: sink.stored.load(Ordering::Relaxed),
        checksum: hex::encode(sink.hasher.finalize()),
        raw_size,
    })
}

/// Streams `source` through zstd and SHA-256 into the object `key`; `stored` counts the bytes
/// stored so far (the progress the guest reports).
pub async fn upload(
    store: &BackupStore,
    key: &str,
    source: DumpSource,
    level: i32,
    stored: Arc<AtomicU64>,
) -> Result<Stored, DriverError> {
    let (tx, rx) = mpsc::channel(QUEUED_PARTS);
    let sink = PartSink {
        buf: Vec::with_capacity(PART_BYTES),
        parts: tx,
        hasher: Sha256::new(),
        stored,
    };
    let producer = tokio::task::spawn_blocking(move || compress(source, level, sink));
    Ok(store.upload(key, rx, producer).await?)
}

/// Downloads the object `key` into `dest`, then checks it against `checksum`.
pub async fn fetch_verified(store: &BackupStore, key: &str, checksum: &str, dest: &Path) -> Result<(), DriverError> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_PARTS);
    let path = dest.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::create(&path).map_err(DriverError::at(&path))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(DriverError::at(&path))?;
        }
        file.sync_all().map_err(DriverError::at(&path))?;
        Ok::<String, DriverError>(hex::encode(hasher.finalize()))
    });
    let fetched = store.download(key, tx).await;
    let digest = writer.await??;
    fetched?;
    if digest != checksum {
        return Err(DriverError::Failed(format!(
            "checksum mismatch for {}: the stored object's SHA-256 is {digest}, the backup recorded {checksum}",
            store.location(key)
        )));
    }
    Ok(())
}

/// Where a verified object is unpacked to.
pub enum Unpack {
    /// A loader command reading the dump on its standard input (output appended to `log`).
    Command {
        cmd: Box<Command>,
        name: String,
        log: PathBuf,
    },
    /// A file (mode 0600, owned as the datastore's service user).
    File {
        path: PathBuf,
        user: Option<super::server::ServiceUser>,
    },
}

/// Decompresses a verified object into its loader (on a blocking thread).
pub async fn unpack(compressed: &Path, into: Unpack) -> Result<(), DriverError> {
    let compressed = compressed.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&compressed).map_err(DriverError::at(&compressed))?;
        let mut decoder =
            zstd::stream::read::Decoder::new(file).map_err(|e| DriverError::failed(format!("unpacking: {e}")))?;
        match into {
            Unpack::File { path, user } => {
                // In a directory of the service account's: a symlink or FIFO it put at `path`
                // is refused, not followed; mode and owner are set before a byte is written.
                use std::os::unix::fs::OpenOptionsExt;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&path)
                    .map_err(DriverError::at(&path))?;
                super::server::set_mode_owner(&out, &path, 0o600, user)?;
                std::io::copy(&mut decoder, &mut out).map_err(|e| DriverError::Failed(format!("unpacking: {e}")))?;
                out.sync_all().map_err(DriverError::at(&path))
            }
            Unpack::Command { mut cmd, name, log } => {
                cmd.stdin(Stdio::piped());
                let mut child = cmd.spawn().map_err(DriverError::spawn(&name))?;
                let copied = match child.stdin.take() {
                    Some(mut stdin) => std::io::copy(&mut decoder, &mut stdin)
                        .map_err(|e| DriverError::Failed(format!("unpacking: {e}"))),
                    None => Err(DriverError::Failed(format!("{name}: no input"))),
                };
                let status = child.wait().map_err(|e| DriverError::Failed(format!("{name}: {e}")))?;
                if !status.success() {
                    return Err(ended(&name, status, &log));
                }
                copied.map(|_| ())
            }
        }
    })
    .await?
}
