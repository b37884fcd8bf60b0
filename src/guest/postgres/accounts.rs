//! PostgreSQL's users, databases, grants and root, administered as `os_admin`. Each database
//! refuses CONNECT to PUBLIC, so a user reaches exactly the databases it was granted.

use super::{PgServer, ADMIN};
use crate::guest::driver_error::DriverError;
use crate::guest::process::Accounts;
use crate::guest::sql::{quote_ident, quote_literal};
use crate::guest::{DatabaseSpec, UserSpec};
use futures::future::BoxFuture;
use futures::FutureExt;

/// `ENCODING … LC_COLLATE … LC_CTYPE … TEMPLATE template0` for a database that names its
/// character set or collation (checked by `guest::charsets` before it gets here); nothing for
/// one that names neither (the cluster's UTF8 and C.UTF-8).
fn encoding_clause(db: &DatabaseSpec) -> String {
    if db.character_set.is_none() && db.collate.is_none() {
        return String::new();
    }
    let encoding = db
        .character_set
        .as_deref()
        .and_then(crate::guest::charsets::pg_encoding)
        .unwrap_or_else(|| "UTF8".into());
    let locale = db.collate.clone().unwrap_or_else(|| match encoding.as_str() {
        "UTF8" => "C.UTF-8".into(),
        _ => "C".into(),
    });
    let (encoding, locale) = (quote_literal(&encoding), quote_literal(&locale));
    format!(" ENCODING {encoding} LC_COLLATE {locale} LC_CTYPE {locale} TEMPLATE template0")
}

impl Accounts for PgServer {
    fn list_databases(&self) -> BoxFuture<'_, Result<Vec<DatabaseSpec>, DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let rows = client
                .query(
                    "SELECT datname, pg_encoding_to_char(encoding)::text, datcollate::text FROM pg_database \
                     WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname",
                    &[],
                )
                .await
                .map_err(DriverError::query("PostgreSQL"))?;
            Ok(rows
                .iter()
                .map(|r| DatabaseSpec {
                    name: r.get(0),
                    character_set: r.get(1),
                    collate: r.get(2),
                })
                .collect())
        }
        .boxed()
    }

    fn create_database(&self, db: DatabaseSpec) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let exists = PgServer::found(&client, "SELECT 1 FROM pg_database WHERE datname = $1", &db.name).await?;
            let name = quote_ident(&db.name);
            if !exists {
                client
                    .batch_execute(&format!("CREATE DATABASE {name}{}", encoding_clause(&db)))
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
            }
            // Only users granted the database may connect to it.
            self.exec("postgres", &format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"))
                .await
        }
        .boxed()
    }

    fn delete_database(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            self.exec(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name)),
            )
            .await
        }
        .boxed()
    }

    fn list_users(&self) -> BoxFuture<'_, Result<Vec<UserSpec>, DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let rows = client
                .query(
                    "SELECT r.rolname, coalesce(array_agg(d.datname ORDER BY d.datname) \
                       FILTER (WHERE d.datname IS NOT NULL), '{}') \
                     FROM pg_roles r LEFT JOIN pg_database d ON NOT d.datistemplate AND d.datname <> 'postgres' \
                       AND has_database_privilege(r.rolname, d.datname, 'CONNECT') \
                     WHERE r.rolcanlogin AND r.rolname <> $1 AND r.rolname <> 'root' AND NOT r.rolreplication GROUP BY r.rolname ORDER BY r.rolname",
                    &[&ADMIN],
                )
                .await.map_err(DriverError::query("PostgreSQL"))?;
            Ok(rows
                .iter()
                .map(|r| UserSpec {
                    name: r.get(0),
                    host: Some("%".into()),
                    databases: r.get(1),
                    ..UserSpec::default()
                })
                .collect())
        }
        .boxed()
    }

    fn create_user(&self, user: UserSpec) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let exists = PgServer::found(&client, "SELECT 1 FROM pg_roles WHERE rolname = $1", &user.name).await?;
            let verb = if exists { "ALTER" } else { "CREATE" };
            let sql = format!(
                "{verb} ROLE {} LOGIN PASSWORD {}",
                quote_ident(&user.name),
                quote_literal(&user.password)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(DriverError::query("PostgreSQL"))?;
            for db in &user.databases {
                self.grant(&user.name, db).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn set_password(&self, name: String, password: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let sql = format!(
                "ALTER ROLE {} PASSWORD {}",
                quote_ident(&name),
                quote_literal(&password)
            );
            self.exec("postgres", &sql).await
        }
        .boxed()
    }

    fn rename_user(&self, name: String, change: crate::guest::UserChange) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            if change.host.is_some() {
                return Err(DriverError::failed("PostgreSQL users have no host; leave 'host' out"));
            }
            let Some(new_name) = change.name.filter(|n| *n != name) else {
                return Ok(());
            };
            // A role's grants and ownerships follow it; an MD5 password is cleared by the rename
            // (it is salted with the name), so a rename also sets the password when given.
            let sql = format!("ALTER ROLE {} RENAME TO {}", quote_ident(&name), quote_ident(&new_name));
            self.exec("postgres", &sql).await
        }
        .boxed()
    }

    fn grant(&self, user: String, databases: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            for db in databases {
                PgServer::grant(self, &user, &db).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn revoke(&self, user: String, database: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let (u, d) = (quote_ident(&user), quote_ident(&database));
            self.exec(&database, &format!("REVOKE ALL ON SCHEMA public FROM {u}"))
                .await?;
            self.exec("postgres", &format!("REVOKE ALL PRIVILEGES ON DATABASE {d} FROM {u}"))
                .await
        }
        .boxed()
    }

    fn enable_root(&self, password: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let exists = PgServer::found(&client, "SELECT 1 FROM pg_roles WHERE rolname = 'root'", "").await?;
            let verb = if exists { "ALTER" } else { "CREATE" };
            // Trove's root is a superuser. That needs the server to run under the instance's own
            // account: a superuser runs programs as it (COPY … FROM PROGRAM), and with an account
            // shared by every instance (coffer not root) it would reach its neighbours' files.
            let power = if self.spec.user.is_some() {
                "SUPERUSER"
            } else {
                "NOSUPERUSER CREATEROLE CREATEDB"
            };
            let sql = format!("{verb} ROLE root {power} LOGIN PASSWORD {}", quote_literal(&password));
            client
                .batch_execute(&sql)
                .await
                .map_err(DriverError::query("PostgreSQL"))
        }
        .boxed()
    }

    fn disable_root(&self) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            let exists = PgServer::found(&client, "SELECT 1 FROM pg_roles WHERE rolname = 'root'", "").await?;
            if exists {
                client
                    .batch_execute("ALTER ROLE root NOLOGIN")
                    .await
                    .map_err(DriverError::query("PostgreSQL"))?;
            }
            Ok(())
        }
        .boxed()
    }

    fn root_enabled(&self) -> BoxFuture<'_, Result<bool, DriverError>> {
        async move {
            let client = self.admin("postgres").await?;
            PgServer::found(
                &client,
                "SELECT 1 FROM pg_roles WHERE rolname = 'root' AND rolcanlogin",
                "",
            )
            .await
        }
        .boxed()
    }

    fn delete_user(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let role = quote_ident(&name);
            for db in self.list_databases().await? {
                self.exec(&db.name, &format!("DROP OWNED BY {role}")).await.ok();
            }
            self.exec("postgres", &format!("DROP ROLE IF EXISTS {role}")).await
        }
        .boxed()
    }
}
