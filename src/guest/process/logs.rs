//! A real server's logs through the datastore contract: listing them, switching a USER log on or
//! off in the running server, publishing a log file's newest bytes to the object store, and
//! discarding what was published.

use super::Server;
use crate::guest::driver_error::DriverError;
use crate::guest::logs::{self, GuestLog, LogAction, LogBook, LogDef};
use crate::guest::GuestError;
use crate::storage::BackupStore;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// The instance a volume belongs to (its directory is named after it).
fn instance_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn unprocessable(e: impl Into<String>) -> GuestError {
    GuestError::Unprocessable(e.into())
}

pub fn list<S: Server>(server: &S) -> Vec<GuestLog> {
    let (dir, book) = (server.dir(), LogBook::read(server.dir()));
    let id = instance_of(dir);
    server.logs().iter().map(|def| logs::view(&id, def, &book)).collect()
}

/// The newest [`logs::PUBLISH_MAX_BYTES`] of `file` and its size.
fn read_tail(file: &Path) -> Result<(Vec<u8>, u64), DriverError> {
    let mut f = std::fs::File::open(file).map_err(DriverError::at(file))?;
    let size = f.metadata().map_err(DriverError::at(file))?.len();
    let from = size.saturating_sub(logs::PUBLISH_MAX_BYTES);
    f.seek(SeekFrom::Start(from)).map_err(DriverError::at(file))?;
    let mut bytes = Vec::with_capacity((size - from) as usize);
    f.take(size - from)
        .read_to_end(&mut bytes)
        .map_err(DriverError::at(file))?;
    Ok((bytes, size))
}

pub async fn act<S: Server>(server: Arc<S>, action: LogAction, store: BackupStore) -> Result<GuestLog, GuestError> {
    let def: LogDef = server
        .logs()
        .into_iter()
        .find(|d| d.name == action.log_name)
        .ok_or_else(|| unprocessable(format!("The datastore has no log named {}.", action.log_name)))?;
    if action.enable && action.disable {
        return Err(unprocessable("A log cannot be enabled and disabled at once."));
    }
    let (dir, id) = (server.dir().to_path_buf(), instance_of(server.dir()));
    let mut book = LogBook::read(&dir);
    if action.enable || action.disable {
        if !def.user {
            return Err(unprocessable(format!("{} is a SYS log: it is always on.", def.name)));
        }
        server
            .switch_log(def.name.to_string(), action.enable)
            .await
            .map_err(|e| GuestError::Failed(e.to_string()))?;
        book.enabled.insert(def.name.to_string(), action.enable);
    }
    if action.discard {
        store
            .delete_prefix(&logs::prefix(&id, def.name))
            .await
            .map_err(|e| GuestError::Failed(e.to_string()))?;
        book.published.remove(def.name);
    }
    if action.publish {
        if !book.is_on(&def) {
            return Err(unprocessable(format!("The log {} is not enabled.", def.name)));
        }
        let file = def.file.clone();
        let (bytes, size) = tokio::task::spawn_blocking(move || read_tail(&file))
            .await
            .map_err(|e| GuestError::Failed(e.to_string()))?
            .map_err(|e| GuestError::Failed(e.to_string()))?;
        let key = format!("{}{}.log", logs::prefix(&id, def.name), crate::db::now_ms());
        store
            .put(&key, bytes.into())
            .await
            .map_err(|e| GuestError::Failed(e.to_string()))?;
        book.published.insert(def.name.to_string(), size);
    }
    book.write(&dir).map_err(|e| GuestError::Failed(e.to_string()))?;
    Ok(logs::view(&id, &def, &book))
}
