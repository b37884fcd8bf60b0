//! What goes wrong inside compute while it makes, adopts or destroys servers: the files of a
//! guest process, the host's tools, a datastore driver, the bus and the database.

use crate::bus::BusError;
use crate::db::DbError;
use crate::guest::driver_error::DriverError;
use crate::guest::host_error::HostError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// A file or directory of the volume or of the guest process.
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The bus refused what compute asked of it (`what` says what that was).
    #[error("{what}: {source}")]
    Bus { what: &'static str, source: BusError },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Key(#[from] crate::guest_link::GuestKeyError),
    #[error(transparent)]
    Sign(#[from] crate::bus::signing::SignError),
    /// A setting or a state compute cannot work with: a malformed address pool, no free
    /// address, a volume another guest process holds, a datastore without a server.
    #[error("{0}")]
    Refused(String),
}

impl ComputeError {
    /// For `map_err`: an I/O error on `path`.
    pub fn at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ComputeError + '_ {
        move |source| ComputeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// For `map_err`: the bus refused `what`.
    pub fn bus(what: &'static str) -> impl FnOnce(BusError) -> ComputeError {
        move |source| ComputeError::Bus { what, source }
    }
}
