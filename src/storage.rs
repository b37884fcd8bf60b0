//! Backup object storage through the `object_store` crate: a local directory (the default) or
//! an S3-compatible endpoint, chosen in `[backup]`.
//!
//! Objects are keyed `<project>/<backup id>/<attempt>.<ext>.zst`, so attempts never overwrite
//! each other and deleting a backup deletes everything under its prefix. Uploads are multipart
//! and fed chunk by chunk; downloads are streamed; nothing is held whole in memory.

mod inspect;

pub use inspect::{Inspected, LocationRefused};

use crate::config::BackupConfig;
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Size of the parts an upload is cut into (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;

#[derive(Clone)]
pub struct BackupStore {
    inner: Arc<dyn ObjectStore>,
    /// The store's URL prefix, for `locationRef` (`file:///…/` or `s3://bucket/`). Shared, as
    /// the local root is: every guest session holds a clone of the store.
    base_url: Arc<str>,
    /// The local store's directory (its emptied backup directories are removed too).
    local_root: Option<Arc<std::path::Path>>,
    /// Whole-object reads ([`BackupStore::inspect`]) allowed at once.
    inspections: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupStore({})", self.base_url)
    }
}

/// What can go wrong with the backup object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store `[backup]` names cannot be opened.
    #[error("{0}")]
    Setup(String),
    /// An operation on the store failed (`what` names it and the object).
    #[error("{what}: {source}")]
    Store { what: String, source: object_store::Error },
    #[error("the backup object {0} is missing")]
    Missing(String),
    /// The side producing an upload, or consuming a download, failed or went away.
    #[error("{0}")]
    Stream(String),
    /// Too many objects are being read whole already; try again shortly.
    #[error("the backup store is busy reading other objects")]
    Busy,
    /// The task reading an object failed (a bug: it panicked).
    #[error("{0}")]
    Task(String),
}

impl StorageError {
    fn store(what: impl Into<String>, source: object_store::Error) -> StorageError {
        StorageError::Store {
            what: what.into(),
            source,
        }
    }
}

impl BackupStore {
    /// Opens the store `[backup]` names (creating the local directory if needed).
    pub fn from_config(cfg: &BackupConfig) -> Result<BackupStore, StorageError> {
        match cfg.store.as_str() {
            "local" => {
                let dir = cfg.local_dir();
                crate::files::create_dirs(&dir, 0o700)
                    .map_err(|e| StorageError::Setup(format!("backup directory {}: {e}", dir.display())))?;
                let dir = dir
                    .canonicalize()
                    .map_err(|e| StorageError::Setup(format!("backup directory {}: {e}", dir.display())))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| StorageError::Setup(format!("backup directory {}: {e}", dir.display())))?;
                Ok(BackupStore {
                    inner: Arc::new(fs),
                    base_url: format!("file://{}/", dir.display()).into(),
                    local_root: Some(dir.into()),
                    inspections: Arc::new(tokio::sync::Semaphore::new(inspect::INSPECTIONS)),
                })
            }
            "s3" => {
                let s3 = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(&cfg.s3_endpoint)
                    .with_bucket_name(&cfg.s3_bucket)
                    .with_region(&cfg.s3_region)
                    .with_access_key_id(&cfg.s3_access_key)
                    .with_secret_access_key(&cfg.s3_secret_key)
                    .with_allow_http(cfg.s3_endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .build()
                    .map_err(|e| StorageError::Setup(format!("S3 backup store: {e}")))?;
                Ok(BackupStore {
                    inner: Arc::new(s3),
                    base_url: format!("s3://{}/", cfg.s3_bucket).into(),
                    local_root: None,
                    inspections: Arc::new(tokio::sync::Semaphore::new(inspect::INSPECTIONS)),
                })
            }
            other => Err(StorageError::Setup(format!(
                "[backup] store must be \"local\" or \"s3\", not {other:?}"
            ))),
        }
    }

    /// The key of one attempt's object.
    pub fn key(tenant: &str, backup_id: &str, attempt: i32, ext: &str) -> String {
        format!("{tenant}/{backup_id}/{attempt}.{ext}.zst")
    }

    /// The URL a key is shown as (`locationRef`).
    pub fn location(&self, key: &str) -> String {
        format!("{}{key}", self.base_url)
    }

    /// Uploads the chunks received on `parts` as one object, then completes it if `producer`
    /// (the task sending them) succeeded, or aborts it if it failed.
    pub async fn upload<T, E: std::fmt::Display>(
        &self,
        key: &str,
        mut parts: mpsc::Receiver<Bytes>,
        producer: tokio::task::JoinHandle<Result<T, E>>,
    ) -> Result<T, StorageError> {
        let path = ObjectPath::from(key);
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|e| StorageError::store(format!("starting upload of {key}"), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        while let Some(part) = parts.recv().await {
            if let Err(e) = writer.wait_for_capacity(UPLOAD_CONCURRENCY).await {
                return Err(StorageError::store(format!("uploading {key}"), e));
            }
            writer.put(part);
        }
        match producer.await {
            Ok(Ok(made)) => writer
                .finish()
                .await
                .map(|_| made)
                .map_err(|e| StorageError::store(format!("completing upload of {key}"), e)),
            Ok(Err(e)) => {
                let _ = writer.abort().await;
                Err(StorageError::Stream(e.to_string()))
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(StorageError::Stream(format!("backup stream: {e}")))
            }
        }
    }

    /// Stores `bytes` as one object (a published datastore log).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.inner
            .put(&ObjectPath::from(key), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| StorageError::store(format!("storing {key}"), e))
    }

    /// Deletes every object under `prefix` (a log's published copies); returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let listed: Vec<_> = self.inner.list(Some(&ObjectPath::from(prefix))).collect().await;
        let mut deleted = 0;
        for meta in listed {
            let meta = meta.map_err(|e| StorageError::store(format!("listing {prefix}"), e))?;
            self.inner
                .delete(&meta.location)
                .await
                .map_err(|e| StorageError::store(format!("deleting {}", meta.location), e))?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Streams an object's bytes into `sink` chunk by chunk.
    pub async fn download(&self, key: &str, sink: mpsc::Sender<Bytes>) -> Result<(), StorageError> {
        let path = ObjectPath::from(key);
        let got = self.inner.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::Missing(self.location(key)),
            e => StorageError::store(format!("reading {}", self.location(key)), e),
        })?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StorageError::store(format!("reading {}", self.location(key)), e))?;
            if sink.send(chunk).await.is_err() {
                return Err(StorageError::Stream("the restore stopped reading".into()));
            }
        }
        Ok(())
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.inner.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::store(format!("checking {}", self.location(key)), e)),
        }
    }

    /// Deletes every object of a backup (all attempts); deleting what is gone is fine.
    pub async fn delete_backup(&self, tenant: &str, backup_id: &str) -> Result<(), StorageError> {
        let prefix = ObjectPath::from(format!("{tenant}/{backup_id}"));
        let mut listing = self.inner.list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            match meta {
                Ok(m) => keys.push(m.location),
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(StorageError::store(format!("listing {prefix}"), e)),
            }
        }
        for key in keys {
            match self.inner.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::store(format!("deleting {key}"), e)),
            }
        }
        if let Some(root) = &self.local_root {
            let _ = std::fs::remove_dir(root.join(tenant).join(backup_id));
        }
        Ok(())
    }
}
