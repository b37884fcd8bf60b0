//! The datastore kinds coffer runs (Trove's datastore `manager`), and what each one offers.
//! The catalog stores a manager as its name; everything past the database speaks this type.

use serde::{Deserialize, Serialize};

/// The standard ports clients reach each datastore's server at.
pub const POSTGRES_PORT: u16 = 5432;
pub const MARIADB_PORT: u16 = 3306;
pub const REDIS_PORT: u16 = 6379;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Postgresql,
    Mariadb,
    Redis,
    /// A simulated server (no process): load tests and the embedded default.
    Simulated,
}

impl Manager {
    /// The datastores whose servers are real processes on the host.
    pub const REAL: [Manager; 3] = [Manager::Postgresql, Manager::Mariadb, Manager::Redis];

    pub const fn as_str(self) -> &'static str {
        match self {
            Manager::Postgresql => "postgresql",
            Manager::Mariadb => "mariadb",
            Manager::Redis => "redis",
            Manager::Simulated => "simulated",
        }
    }

    /// The manager a catalog name names, if coffer runs it.
    pub fn parse(name: &str) -> Option<Manager> {
        [
            Manager::Postgresql,
            Manager::Mariadb,
            Manager::Redis,
            Manager::Simulated,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }

    pub fn is_simulated(self) -> bool {
        self == Manager::Simulated
    }

    /// The standard port its server listens on (none for a simulated one).
    pub fn standard_port(self) -> Option<u16> {
        match self {
            Manager::Postgresql => Some(POSTGRES_PORT),
            Manager::Mariadb => Some(MARIADB_PORT),
            Manager::Redis => Some(REDIS_PORT),
            Manager::Simulated => None,
        }
    }

    /// Whether coffer replicates it (read replicas, switchover, failover).
    pub fn has_replication(self) -> bool {
        matches!(self, Manager::Postgresql | Manager::Redis | Manager::Mariadb)
    }

    /// Whether it has users and databases in Trove's sense (Redis has neither).
    pub fn has_accounts(self) -> bool {
        self != Manager::Redis
    }

    /// The format of its backups' dumps, the object key's extension before `.zst` (of its full
    /// backups: PostgreSQL's incrementals are WAL archives, `wal.tar`).
    pub fn backup_format(self) -> &'static str {
        match self {
            Manager::Postgresql => "tar",
            Manager::Mariadb => "xbstream",
            Manager::Redis => "rdb",
            Manager::Simulated => "json",
        }
    }

    /// Whether an object key names a full backup of this datastore's: its format, and (for
    /// PostgreSQL, whose incrementals are WAL archives) not an incremental's.
    pub fn names_full_backup(self, key: &str) -> bool {
        let file = key.rsplit('/').next().unwrap_or(key);
        let suffix = format!(".{}.zst", self.backup_format());
        file.ends_with(&suffix) && !(self == Manager::Postgresql && file.ends_with(".wal.tar.zst"))
    }

    /// Bytes only a full backup's dump holds, where its object's name cannot tell it from an
    /// incremental's (MariaDB's, whose `xtrabackup_checkpoints` says which it is).
    pub fn full_backup_mark(self) -> Option<&'static [u8]> {
        match self {
            Manager::Mariadb => Some(b"backup_type = full-backuped"),
            _ => None,
        }
    }

    /// Whether its backups can be incremental (Redis snapshots cannot).
    pub fn has_incremental_backups(self) -> bool {
        self != Manager::Redis
    }

    /// Whether it enforces `allowed_cidrs` by itself (PostgreSQL's pg_hba); the others need the
    /// host firewall.
    pub fn enforces_access_itself(self) -> bool {
        matches!(self, Manager::Postgresql | Manager::Simulated)
    }
}

impl std::fmt::Display for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [
            Manager::Postgresql,
            Manager::Mariadb,
            Manager::Redis,
            Manager::Simulated,
        ] {
            assert_eq!(Manager::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).expect("json"), serde_json::json!(m.as_str()));
        }
        assert_eq!(Manager::parse("cassandra"), None);
    }

    #[test]
    fn a_full_backup_is_named_by_its_datastores_format() {
        assert!(Manager::Postgresql.names_full_backup("p/b/1.tar.zst"));
        assert!(
            !Manager::Postgresql.names_full_backup("p/b/1.wal.tar.zst"),
            "an incremental"
        );
        assert!(!Manager::Postgresql.names_full_backup("p/b/1.rdb.zst"));
        assert!(Manager::Redis.names_full_backup("p/b/2.rdb.zst"));
        assert!(Manager::Mariadb.names_full_backup("p/b/1.xbstream.zst"));
        assert!(!Manager::Simulated.names_full_backup("p/b/1.json"), "not compressed");
    }
}
