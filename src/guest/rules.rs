//! What each datastore accepts as user and database names (Trove's per-datastore checks):
//! lengths, characters, and the names reserved for the system, which users can neither create
//! nor delete; and which character sets and collations a database may ask for — each honoured
//! by the datastore or refused here, never ignored.

use super::DatabaseSpec;
use crate::manager::Manager;

/// Why a name, character set or collation is refused (a message for the API's 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A datastore's naming rules; `None` from [`for_manager`] means it has no users or databases.
#[derive(Debug, Clone, Copy)]
pub struct NameRules {
    pub max_user: usize,
    pub max_database: usize,
    pub reserved_users: &'static [&'static str],
    pub reserved_databases: &'static [&'static str],
    pub charsets: Charsets,
}

/// How a datastore takes a database's `character_set` and `collate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charsets {
    /// PostgreSQL: a server encoding and a locale whose code set matches it (or C/POSIX).
    Postgres,
    /// MariaDB: a character set name and a collation of that set.
    Mariadb,
    /// Kept as given (the simulated datastore).
    Any,
}

pub fn for_manager(manager: &str) -> Option<NameRules> {
    match Manager::parse(manager)? {
        Manager::Postgresql => Some(NameRules {
            max_user: 63,
            max_database: 63,
            reserved_users: &["os_admin", "postgres", "root", "coffer_repl"],
            reserved_databases: &["os_admin", "postgres", "template0", "template1"],
            charsets: Charsets::Postgres,
        }),
        Manager::Mariadb => Some(NameRules {
            max_user: 16,
            max_database: 64,
            reserved_users: &[
                "root",
                "os_admin",
                "mysql",
                "mysql.sys",
                "mysql.session",
                "mariadb.sys",
                "debian-sys-maint",
                "coffer_repl",
            ],
            reserved_databases: &["mysql", "information_schema", "performance_schema", "sys", "lost+found"],
            charsets: Charsets::Mariadb,
        }),
        Manager::Simulated => Some(NameRules {
            max_user: 64,
            max_database: 64,
            reserved_users: &["root", "os_admin"],
            reserved_databases: &["os_admin"],
            charsets: Charsets::Any,
        }),
        Manager::Redis => None,
    }
}

fn check(kind: &str, name: &str, max: usize, reserved: &[&str]) -> Result<(), Refused> {
    if name.is_empty() || name.chars().count() > max {
        return Err(Refused(format!(
            "{kind} name '{name}' must be 1 to {max} characters long."
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.starts_with('-') {
        return Err(Refused(format!(
            "{kind} name '{name}' may contain only letters, digits, '_' and '-'."
        )));
    }
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(Refused(format!("{kind} name '{name}' is reserved.")));
    }
    Ok(())
}

impl NameRules {
    pub fn check_user(&self, name: &str) -> Result<(), Refused> {
        check("User", name, self.max_user, self.reserved_users)
    }

    pub fn check_database(&self, name: &str) -> Result<(), Refused> {
        check("Database", name, self.max_database, self.reserved_databases)
    }

    /// A database to create: its name, and its character set and collation as this datastore
    /// takes them.
    pub fn check_database_spec(&self, db: &DatabaseSpec) -> Result<(), Refused> {
        self.check_database(&db.name)?;
        let (charset, collate) = (db.character_set.as_deref(), db.collate.as_deref());
        match self.charsets {
            Charsets::Any => Ok(()),
            Charsets::Mariadb => super::charsets::check_mariadb(charset, collate),
            Charsets::Postgres => super::charsets::check_postgres(charset, collate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trove_rules() {
        let pg = for_manager("postgresql").expect("rules");
        assert!(pg.check_user("app").is_ok());
        assert!(pg.check_user("postgres").is_err());
        assert!(pg.check_database("template1").is_err());
        assert!(pg.check_database(&"x".repeat(64)).is_err());
        assert!(pg.check_user("bad name").is_err());
        let my = for_manager("mariadb").expect("rules");
        assert!(my.check_user(&"u".repeat(17)).is_err());
        assert!(my.check_database("mysql").is_err());
        assert!(for_manager("redis").is_none());
    }
}
