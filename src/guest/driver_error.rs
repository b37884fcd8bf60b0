//! What can go wrong while a guest drives its datastore server: the volume's files, the
//! datastore's own tools (`initdb`, `mariadb-backup`, …), the server's answers to the admin's
//! queries, the host's tools and the backup store. Each message says where it happened; the
//! guest session carries it to the caller as [`GuestError::Failed`](super::GuestError).

use crate::guest::host_error::HostError;
use crate::storage::StorageError;
use std::path::{Path, PathBuf};

/// The error a client library or codec gave.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error with what caused it (a client library's "db error" says its reason only there).
fn chain(error: &Cause) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = inner.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A file or directory of the volume.
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A datastore tool that could not be started.
    #[error("{program}: cannot run: {source}")]
    Spawn { program: String, source: std::io::Error },
    /// A datastore tool that ran and failed: how it ended and the tail of its log.
    #[error("{program} {ended}: {log_tail}")]
    Tool {
        program: String,
        ended: String,
        log_tail: String,
    },
    /// The server refused the admin's query or could not be reached (`server` names the
    /// datastore: `PostgreSQL`, `MariaDB`, `Redis`).
    #[error("{server}: {}", chain(.source))]
    Query { server: &'static str, source: Cause },
    /// The admin could not connect to the server.
    #[error("connect to {server}: {}", chain(.source))]
    Connect { server: &'static str, source: Cause },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Store(#[from] StorageError),
    /// A value the datastore refuses (a character set it lacks, a malformed name or address).
    #[error("{0}")]
    Invalid(String),
    /// The blocking work was lost (its thread panicked or the runtime is stopping).
    #[error("blocking task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A server or a dump that is not in the state the driver needs, said in words.
    #[error("{0}")]
    Failed(String),
}

impl DriverError {
    /// For `map_err`: an I/O error on `path`.
    pub fn at(path: &Path) -> impl FnOnce(std::io::Error) -> DriverError + '_ {
        move |source| DriverError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// For `map_err`: a query `server` refused.
    pub fn query<E: Into<Cause>>(server: &'static str) -> impl FnOnce(E) -> DriverError {
        move |e| DriverError::Query {
            server,
            source: e.into(),
        }
    }

    /// For `map_err`: a connection to `server` that failed.
    pub fn connect<E: Into<Cause>>(server: &'static str) -> impl FnOnce(E) -> DriverError {
        move |e| DriverError::Connect {
            server,
            source: e.into(),
        }
    }

    /// For `map_err`: `program` could not be started.
    pub fn spawn(program: &str) -> impl FnOnce(std::io::Error) -> DriverError + '_ {
        move |source| DriverError::Spawn {
            program: program.to_string(),
            source,
        }
    }

    /// A failure said in words.
    pub fn failed(message: impl Into<String>) -> DriverError {
        DriverError::Failed(message.into())
    }
}

impl From<DriverError> for super::GuestError {
    fn from(e: DriverError) -> super::GuestError {
        super::GuestError::Failed(e.to_string())
    }
}
