//! What coffer learns of an object it did not write itself (a backup registered with Trove's
//! `restore_from`): the key a client's location names, checked to lie in this store under the
//! client's own project; and the object's size, SHA-256 and uncompressed size, measured by
//! streaming it once through SHA-256 and a zstd decoder — which also proves it is whole.

use super::{BackupStore, StorageError};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io::Read;
use tokio::sync::mpsc;

/// What reading a whole object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Bytes stored (compressed).
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub checksum: String,
    /// Bytes once decompressed.
    pub raw_size: u64,
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

    /// Reads the whole object `key`: its size and SHA-256, and its size decompressed; an
    /// object that is not one whole zstd stream is refused.
    pub async fn inspect(&self, key: &str) -> Result<Inspected, StorageError> {
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let location = self.location(key);
        let reader = tokio::task::spawn_blocking(move || {
            let mut source = HashingReader {
                chunks: rx,
                current: Bytes::new(),
                hasher: Sha256::new(),
                size: 0,
            };
            let raw_size = {
                let decoder = zstd::stream::read::Decoder::new(&mut source);
                let mut decoder = decoder.map_err(|e| StorageError::Stream(format!("{location}: {e}")))?;
                std::io::copy(&mut decoder, &mut std::io::sink())
                    .map_err(|e| StorageError::Stream(format!("{location} is not a whole zstd stream: {e}")))?
            };
            // Whatever follows the last frame still counts (and is refused below if it is
            // all there is).
            std::io::copy(&mut source, &mut std::io::sink()).map_err(|e| StorageError::Stream(e.to_string()))?;
            Ok::<Inspected, StorageError>(Inspected {
                size: source.size,
                checksum: hex::encode(source.hasher.finalize()),
                raw_size,
            })
        });
        let downloaded = self.download(key, tx).await;
        let inspected = reader
            .await
            .map_err(|e| StorageError::Stream(format!("inspecting {key}: {e}")))?;
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
        let found = s.inspect("p/b/1.json.zst").await.expect("inspect");
        assert_eq!(found.size, packed.len() as u64);
        assert_eq!(found.raw_size, raw.len() as u64);
        assert_eq!(found.checksum, hex::encode(Sha256::digest(&packed)));

        let cut = Bytes::from(packed[..packed.len() / 2].to_vec());
        s.put("p/b/2.json.zst", cut).await.expect("put");
        assert!(s.inspect("p/b/2.json.zst").await.is_err(), "a truncated stream");
        s.put("p/b/3.json.zst", Bytes::from_static(b"not zstd at all"))
            .await
            .expect("put");
        assert!(s.inspect("p/b/3.json.zst").await.is_err(), "not zstd");
        s.put("p/b/4.json.zst", Bytes::new()).await.expect("put");
        assert!(s.inspect("p/b/4.json.zst").await.is_err(), "empty");
        assert!(matches!(
            s.inspect("p/b/5.json.zst").await,
            Err(StorageError::Missing(_))
        ));
    }
}
