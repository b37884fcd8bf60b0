//! The volume of a real server: its usage as Trove's filesystem stats, growing it, and the
//! size limit — past it the datastore turns read-only until the volume is resized.

use super::{failed, marker, ProcessDatastore, Server};
use crate::guest::{FilesystemStats, GuestError, GuestFuture};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::path::PathBuf;
use std::sync::Arc;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// The volume's real usage in bytes, measured off the async threads.
async fn usage(dir: PathBuf) -> Result<u64, GuestError> {
    tokio::task::spawn_blocking(move || crate::guest::server::dir_usage_bytes(&dir))
        .await
        .map_err(|e| failed(e.to_string()))
}

impl<S: Server> ProcessDatastore<S> {
    pub(super) fn stats_now(&self) -> GuestFuture<FilesystemStats> {
        let dir = self.server.dir().to_path_buf();
        let settings = self.settings.lock().clone();
        let total = settings.volume_size_gb.unwrap_or(0) as f64;
        // Bytes per volume "GB": a real GiB, or what the volume unit makes of it.
        let per_gb = match (settings.volume_limit_mb, settings.volume_size_gb) {
            (Some(limit), Some(size)) if size > 0 => (limit as f64 * MIB) / size as f64,
            _ => GB,
        };
        async move {
            let used = usage(dir).await?;
            Ok(FilesystemStats {
                total,
                used: used as f64 / per_gb,
            })
        }
        .boxed()
    }

    pub(super) fn resize_volume_now(&self, size_gb: i64, limit_mb: i64) -> GuestFuture<()> {
        let (server, shared) = (Arc::clone(&self.server), Arc::clone(&self.settings));
        async move {
            let used = usage(server.dir().to_path_buf()).await?;
            let (settings, lift) = {
                let mut s = shared.lock();
                s.volume_size_gb = Some(size_gb);
                s.volume_limit_mb = Some(limit_mb);
                let lift = s.read_only && (used as f64) < limit_mb as f64 * MIB;
                if lift {
                    s.read_only = false;
                }
                (s.clone(), lift)
            };
            Self::save_settings(server.dir(), &settings).map_err(failed)?;
            if lift {
                tracing::info!(volume = %server.dir().display(), "the volume grew: writes are allowed again");
                server.apply_read_only(settings).await.map_err(failed)?;
            }
            Ok(())
        }
        .boxed()
    }

    pub(super) fn check_volume_now(&self) -> BoxFuture<'static, Option<String>> {
        use std::sync::atomic::Ordering;
        let (server, shared, busy) = (
            Arc::clone(&self.server),
            Arc::clone(&self.settings),
            Arc::clone(&self.checking),
        );
        async move {
            let limit = shared.lock().volume_limit_mb?;
            if !marker(server.dir()).exists() || shared.lock().read_only || busy.swap(true, Ordering::AcqRel) {
                return None;
            }
            let result = async {
                let used = usage(server.dir().to_path_buf()).await.ok()?;
                if (used as f64) <= limit as f64 * MIB {
                    return None;
                }
                let settings = {
                    let mut s = shared.lock();
                    s.read_only = true;
                    s.clone()
                };
                let _ = Self::save_settings(server.dir(), &settings);
                if let Err(e) = server.apply_read_only(settings).await {
                    tracing::warn!(volume = %server.dir().display(), "making the datastore read-only failed: {e}");
                }
                Some(format!(
                    "The volume is full ({} MiB used of {limit} MiB): the datastore is read-only until the volume is resized.",
                    used / (1024 * 1024)
                ))
            }
            .await;
            busy.store(false, Ordering::Release);
            result
        }
        .boxed()
    }
}
