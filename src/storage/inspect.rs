//! What coffer learns of an object it did not write itself (a backup registered with Trove's
//! `restore_from`): the key a client's location names, checked to lie in this store under the
//! client's own project; its size as the store lists it; and its size, SHA-256, uncompressed
//! size and whether the uncompressed bytes hold a mark, measured by streaming it once through
//! SHA-256 and a zstd decoder — which also proves it is one whole zstd stream (no truncation,
//! nothing after it). At most [`INSPECTIONS`] objects are read at once per process; another
//! request is told to come back ([`StorageError::Busy`]).

use super::{BackupStore, StorageError};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Read;
use tokio::sync::mpsc;

/// Objects read whole at once, per process (each holds a blocking thread while it is read).
pub const INSPECTIONS: usize = 2;

/// What reading a whole object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Bytes stored (compressed).
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub checksum: String,
    /// Bytes once decompressed.
    pub raw_size: u64,
    /// Whether the decompressed bytes hold the mark asked for (true when none was).
    pub holds_mark: bool,
}

/// Why a location cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationRefused {
    #[error("it is not in this deployment's backup store ({0})")]
    OtherStore(String),
    #[error("it is not under the project's own prefix ({0}/)")]
    OtherProject(String),
    #[error("its path is not a plain object key (segments of letters, digits, '.', '_' and '-')")]
    NotAKey,
}

/// Chunks queued between the download and the hashing thread.
const QUEUED_CHUNKS: usize = 4;

/// A blocking reader over the downloaded chunks that hashes and counts what it passes on.
struct HashingReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
    hasher: Sha256,
    size: u64,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.hasher.update(&chunk);
                    self.size += chunk.len() as u64;
                    self.current = chunk;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Looks for `mark` in the bytes written to it, across the writes' boundaries.
struct MarkFinder {
    mark: &'static [u8],
    /// The last `mark.len() - 1` bytes seen, and the new ones while they are searched.
    window: Vec<u8>,
    found: bool,
}

impl std::io::Write for MarkFinder {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if !self.found && !self.mark.is_empty() {
            self.window.extend_from_slice(data);
            self.found = self.window.windows(self.mark.len()).any(|w| w == self.mark);
            let keep = self.mark.len() - 1;
            let cut = self.window.len().saturating_sub(keep);
            self.window.drain(..cut);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A plain key segment: what coffer's own keys are made of, never `.` or `..`.
fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl BackupStore {
    /// The key `location` names, if it is an object of this store under `project`'s prefix
    /// (where coffer keeps that project's backups), so no project registers another's data.
    pub fn key_in_project(&self, location: &str, project: &str) -> Result<String, LocationRefused> {
        let key = location
            .strip_prefix(&*self.base_url)
            .ok_or_else(|| LocationRefused::OtherStore(self.base_url.to_string()))?;
        let segments: Vec<&str> = key.split('/').collect();
        if segments.len() < 2 || !segments.iter().all(|s| plain_segment(s)) {
            return Err(LocationRefused::NotAKey);
        }
        if segments[0] != project {
            return Err(LocationRefused::OtherProject(project.to_string()));
        }
        Ok(key.to_string())
    }

    /// The object's size as the store lists it (None: there is no such object).
    pub async fn stored_size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.inner.head(&object_store::path::Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::store(format!("checking {}", self.location(key)), e)),
        }
    }

    /// Reads the whole object `key`: its size and SHA-256, its size decompressed, and whether
    /// that holds `mark`; an object that is not one whole zstd stream is refused.
    pub async fn inspect(&self, key: &str, mark: Option<&'static [u8]>) -> Result<Inspected, StorageError> {
        let _permit = self.inspections.try_acquire().map_err(|_| StorageError::Busy)?;
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let location = self.location(key);
        let reader = tokio::task::spawn_blocking(move || {
            let mut source = HashingReader {
                chunks: rx,
                current: Bytes::new(),
                hasher: Sha256::new(),
                size: 0,
            };
            let mut finder = MarkFinder {
                mark: mark.unwrap_or_default(),
                window: Vec::new(),
                found: mark.is_none(),
            };
            // zstd's reader ends only where its input does, and refuses what is truncated,
            // empty, or followed by anything but another frame.
            let raw_size = zstd::stream::read::Decoder::new(&mut source)
                .and_then(|mut decoder| std::io::copy(&mut decoder, &mut finder))
                .map_err(|e| StorageError::Stream(format!("{location} is not a whole zstd stream: {e}")))?;
            Ok::<Inspected, StorageError>(Inspected {
                size: source.size,
                checksum: hex::encode(source.hasher.finalize()),
                raw_size,
                holds_mark: finder.found,
            })
        });
        let downloaded = self.download(key, tx).await;
        let inspected = reader
            .await
            .map_err(|e| StorageError::Task(format!("inspecting {key}: {e}")))?;
        match (downloaded, inspected) {
            // The download stopped because the reader did (a bad stream): the reader's reason.
            (Err(StorageError::Stream(_)), Err(e)) | (Ok(()), Err(e)) => Err(e),
            (Err(e), _) => Err(e),
            (Ok(()), Ok(found)) if found.raw_size == 0 => {
                Err(StorageError::Stream(format!("{} holds no data", self.location(key))))
            }
            (Ok(()), Ok(found)) => Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackupConfig;

    fn store(dir: &std::path::Path) -> BackupStore {
        let cfg = BackupConfig {
            store: "local".into(),
            local_dir: dir.display().to_string(),
            ..BackupConfig::default()
        };
        BackupStore::from_config(&cfg).expect("a local store")
    }

    #[test]
    fn a_location_must_be_a_plain_key_of_this_store_under_the_project() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        let base = s.location("");
        assert_eq!(
            s.key_in_project(&format!("{base}p1/b/1.tar.zst"), "p1"),
            Ok("p1/b/1.tar.zst".into())
        );
        assert!(matches!(
            s.key_in_project("s3://elsewhere/p1/b/1.tar.zst", "p1"),
            Err(LocationRefused::OtherStore(_))
        ));
        assert!(matches!(
            s.key_in_project(&format!("{base}p2/b/1.tar.zst"), "p1"),
            Err(LocationRefused::OtherProject(_))
        ));
        for bad in [
            "p1/../p2/b/1.tar.zst",
            "p1//1.tar.zst",
            "p1/%2e%2e/x",
            "p1",
            "p1/./x",
            "p1/b\\x",
        ] {
            assert_eq!(
                s.key_in_project(&format!("{base}{bad}"), "p1"),
                Err(LocationRefused::NotAKey),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn inspecting_measures_a_zstd_object_and_refuses_anything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        let raw = vec![7u8; 100_000];
        let packed = zstd::encode_all(&raw[..], 3).expect("compress");
        s.put("p/b/1.json.zst", Bytes::from(packed.clone())).await.expect("put");
        let found = s.inspect("p/b/1.json.zst", None).await.expect("inspect");
        assert_eq!(found.size, packed.len() as u64);
        assert_eq!(found.raw_size, raw.len() as u64);
        assert_eq!(found.checksum, hex::encode(Sha256::digest(&packed)));
        assert!(found.holds_mark, "no mark asked for");
        assert_eq!(
            s.stored_size("p/b/1.json.zst").await.expect("head"),
            Some(packed.len() as u64)
        );
        assert_eq!(s.stored_size("p/b/none.json.zst").await.expect("head"), None);

        // A mark across the decoder's buffers is found; one that is not there is not.
        let mut marked = vec![0u8; 200_000];
        marked[131_070..131_080].copy_from_slice(b"0123456789");
        s.put(
            "p/b/6.json.zst",
            Bytes::from(zstd::encode_all(&marked[..], 3).expect("compress")),
        )
        .await
        .expect("put");
        assert!(
            s.inspect("p/b/6.json.zst", Some(b"0123456789"))
                .await
                .expect("inspect")
                .holds_mark
        );
        assert!(
            !s.inspect("p/b/6.json.zst", Some(b"9876543210"))
                .await
                .expect("inspect")
                .holds_mark
        );

        let mut trailed = packed.clone();
        trailed.extend_from_slice(b"trailing garbage");
        s.put("p/b/7.json.zst", Bytes::from(trailed)).await.expect("put");
        assert!(
            s.inspect("p/b/7.json.zst", None).await.is_err(),
            "garbage after the frame"
        );

        let cut = Bytes::from(packed[..packed.len() / 2].to_vec());
        s.put("p/b/2.json.zst", cut).await.expect("put");
        assert!(s.inspect("p/b/2.json.zst", None).await.is_err(), "a truncated stream");
        s.put("p/b/3.json.zst", Bytes::from_static(b"not zstd at all"))
            .await
            .expect("put");
        assert!(s.inspect("p/b/3.json.zst", None).await.is_err(), "not zstd");
        s.put("p/b/4.json.zst", Bytes::new()).await.expect("put");
        assert!(s.inspect("p/b/4.json.zst", None).await.is_err(), "empty");
        assert!(matches!(
            s.inspect("p/b/5.json.zst", None).await,
            Err(StorageError::Missing(_))
        ));
    }
}
