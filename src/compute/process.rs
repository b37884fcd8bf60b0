//! The `process` compute driver: an instance's "server" is a real datastore server process on
//! this host, with its own volume (a directory under `[compute] data_dir`) and its own address
//! from `[compute] address_pool`, on which it listens on its datastore's standard port — so to
//! a client every instance looks like its own host.

use crate::compute::error::ComputeError;
use crate::guest::mariadb::MariaServer;
use crate::guest::postgres::PgServer;
use crate::guest::process::ProcessDatastore;
use crate::guest::redis::RedisServer;
use crate::guest::{Datastore, InstanceSpec};
use crate::manager::Manager;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::Path;

/// The driver of a `manager` server living in `spec`.
pub fn datastore_for(manager: Manager, spec: InstanceSpec) -> Result<Box<dyn Datastore>, ComputeError> {
    match manager {
        Manager::Postgresql => Ok(Box::new(ProcessDatastore::new(PgServer::new(spec)))),
        Manager::Mariadb => Ok(Box::new(ProcessDatastore::new(MariaServer::new(spec)))),
        Manager::Redis => Ok(Box::new(ProcessDatastore::new(RedisServer::new(spec)))),
        Manager::Simulated => Err(ComputeError::Refused(
            "a simulated datastore has no server process".into(),
        )),
    }
}

/// The datastore versions whose servers are installed on this host and that this driver runs:
/// (manager, version name), the name being the installed major version (`15`, `10.11`, `7.0`).
pub fn installed_versions() -> Vec<(Manager, String)> {
    let mut found = Vec::new();
    if let Some(v) = crate::guest::postgres::detect_version() {
        found.push((Manager::Postgresql, v));
    }
    if let Some(v) = crate::guest::mariadb::detect_version() {
        found.push((Manager::Mariadb, v));
    }
    if let Some(v) = crate::guest::redis::detect_version() {
        found.push((Manager::Redis, v));
    }
    found
}

/// A range of IPv4 addresses, e.g. `127.77.0.0/16`.
#[derive(Debug, Clone, Copy)]
pub struct AddressPool {
    first: u32,
    last: u32,
}

impl AddressPool {
    pub fn parse(cidr: &str) -> Result<AddressPool, ComputeError> {
        let (addr, bits) = cidr
            .split_once('/')
            .ok_or_else(|| ComputeError::Refused(format!("address pool {cidr:?} is not a.b.c.d/n")))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| ComputeError::Refused(format!("address pool {cidr:?}: bad address")))?;
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| *b <= 30)
            .ok_or_else(|| ComputeError::Refused(format!("address pool {cidr:?}: bad prefix")))?;
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        let network = u32::from(addr) & mask;
        // Skip the network and broadcast addresses (and .0/.255 of every /24, which some tools
        // treat specially).
        Ok(AddressPool {
            first: network + 1,
            last: (network | !mask) - 1,
        })
    }

    /// The first address not in `in_use` on which nothing listens at `port`.
    pub fn allocate(&self, in_use: &HashSet<Ipv4Addr>, port: u16) -> Option<Ipv4Addr> {
        (self.first..=self.last)
            .map(Ipv4Addr::from)
            .filter(|a| a.octets()[3] != 0 && a.octets()[3] != 255)
            .filter(|a| !in_use.contains(a))
            .find(|a| std::net::TcpListener::bind((*a, port)).is_ok())
    }
}

/// Creates the directory volumes live in, traversable by the datastores' service users.
/// Servers keep their unix sockets in their volumes, and a socket path has at most 107 bytes.
pub fn ensure_instances_dir(dir: &Path) -> Result<(), ComputeError> {
    let longest_socket = dir.join("00000000-0000-0000-0000-000000000000/run/.s.PGSQL.5432.lock");
    if longest_socket.as_os_str().len() > 107 {
        return Err(ComputeError::Refused(format!(
            "[compute] data_dir {} is too long: the servers' unix sockets inside it would pass 107 bytes",
            dir.display()
        )));
    }
    crate::files::create_dirs(dir, crate::files::TRAVERSE_ONLY).map_err(ComputeError::at(dir))?;
    Ok(crate::guest::server::make_dir(dir, crate::files::TRAVERSE_ONLY, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_free_addresses_of_the_pool() {
        let pool = AddressPool::parse("127.77.250.0/24").expect("pool");
        let first = pool.allocate(&HashSet::new(), 45_999).expect("an address");
        assert_eq!(first, Ipv4Addr::new(127, 77, 250, 1));
        let taken = HashSet::from([first]);
        assert_eq!(pool.allocate(&taken, 45_999), Some(Ipv4Addr::new(127, 77, 250, 2)));
        let _busy = std::net::TcpListener::bind((first, 45_998)).expect("bind");
        assert_ne!(
            pool.allocate(&HashSet::new(), 45_998),
            Some(first),
            "a listening address is not free"
        );
        assert!(AddressPool::parse("127.77.0.0").is_err());
    }
}
