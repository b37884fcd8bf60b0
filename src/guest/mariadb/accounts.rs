//! MariaDB's users, databases, grants and root, administered as `os_admin`. A user is created
//! with the host the API was given (`%` by default); later operations find its accounts by name.

use super::{MariaServer, SYSTEM_DATABASES, SYSTEM_USERS};
use crate::guest::driver_error::DriverError;
use crate::guest::process::Accounts;
use crate::guest::sql::{quote_mysql_ident as ident, quote_mysql_literal as literal};
use crate::guest::{DatabaseSpec, UserSpec};
use futures::future::BoxFuture;
use futures::FutureExt;
use mysql_async::prelude::Queryable;

impl Accounts for MariaServer {
    fn list_databases(&self) -> BoxFuture<'_, Result<Vec<DatabaseSpec>, DriverError>> {
        async move {
            let mut conn = self.admin().await?;
            let names: Vec<String> = conn
                .query("SHOW DATABASES")
                .await
                .map_err(DriverError::query("MariaDB"))?;
            let _ = conn.disconnect().await;
            Ok(names
                .into_iter()
                .filter(|n| !SYSTEM_DATABASES.contains(&n.as_str()))
                .map(|name| DatabaseSpec {
                    name,
                    ..DatabaseSpec::default()
                })
                .collect())
        }
        .boxed()
    }

    fn create_database(&self, db: DatabaseSpec) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let mut sql = format!("CREATE DATABASE IF NOT EXISTS {}", ident(&db.name));
            if let Some(cs) = &db.character_set {
                sql += &format!(" CHARACTER SET {}", literal(cs));
            }
            if let Some(collate) = &db.collate {
                sql += &format!(" COLLATE {}", literal(collate));
            }
            self.exec(&sql).await
        }
        .boxed()
    }

    fn delete_database(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move { self.exec(&format!("DROP DATABASE IF EXISTS {}", ident(&name))).await }.boxed()
    }

    fn list_users(&self) -> BoxFuture<'_, Result<Vec<UserSpec>, DriverError>> {
        async move {
            let mut conn = self.admin().await?;
            let rows: Vec<(String, String)> = conn
                .query("SELECT User, Host FROM mysql.user ORDER BY User")
                .await
                .map_err(DriverError::query("MariaDB"))?;
            let mut users = Vec::new();
            for (name, host) in rows
                .into_iter()
                .filter(|(u, _)| !u.is_empty() && !SYSTEM_USERS.contains(&u.as_str()))
            {
                let databases: Vec<String> = conn
                    .exec(
                        "SELECT Db FROM mysql.db WHERE User = ? AND Host = ? ORDER BY Db",
                        (&name, &host),
                    )
                    .await
                    .map_err(DriverError::query("MariaDB"))?;
                users.push(UserSpec {
                    name,
                    host: Some(host),
                    databases,
                    ..UserSpec::default()
                });
            }
            let _ = conn.disconnect().await;
            Ok(users)
        }
        .boxed()
    }

    fn create_user(&self, user: UserSpec) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let account = Self::account(&user.name, user.host.as_deref());
            self.exec(&format!(
                "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {}",
                literal(&user.password)
            ))
            .await?;
            for db in &user.databases {
                self.exec(&format!("GRANT ALL PRIVILEGES ON {}.* TO {account}", ident(db)))
                    .await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn delete_user(&self, name: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            for account in self.accounts_named(&name).await? {
                self.exec(&format!("DROP USER IF EXISTS {account}")).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn set_password(&self, name: String, password: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            for account in self.accounts_named(&name).await? {
                self.exec(&format!("ALTER USER {account} IDENTIFIED BY {}", literal(&password)))
                    .await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn rename_user(&self, name: String, change: crate::guest::UserChange) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let new_name = change.name.unwrap_or_else(|| name.clone());
            // RENAME USER carries the account's privileges to its new name and host.
            for host in self.hosts_of(&name).await? {
                let account = Self::account(&name, Some(&host));
                let renamed = Self::account(&new_name, Some(change.host.as_deref().unwrap_or(&host)));
                self.exec(&format!("RENAME USER {account} TO {renamed}")).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn grant(&self, user: String, databases: Vec<String>) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            for account in self.accounts_named(&user).await? {
                for db in &databases {
                    self.exec(&format!("GRANT ALL PRIVILEGES ON {}.* TO {account}", ident(db)))
                        .await?;
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn revoke(&self, user: String, database: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            for account in self.accounts_named(&user).await? {
                self.exec(&format!(
                    "REVOKE ALL PRIVILEGES ON {}.* FROM {account}",
                    ident(&database)
                ))
                .await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn enable_root(&self, password: String) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            let account = Self::account("root", None);
            self.exec(&format!(
                "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {}",
                literal(&password)
            ))
            .await?;
            self.exec(&format!("ALTER USER {account} IDENTIFIED BY {}", literal(&password)))
                .await?;
            self.exec(&format!("GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION"))
                .await
        }
        .boxed()
    }

    fn disable_root(&self) -> BoxFuture<'_, Result<(), DriverError>> {
        async move {
            self.exec(&format!("DROP USER IF EXISTS {}", Self::account("root", None)))
                .await
        }
        .boxed()
    }

    fn root_enabled(&self) -> BoxFuture<'_, Result<bool, DriverError>> {
        async move {
            let mut conn = self.admin().await?;
            let found: Option<i32> = conn
                .query_first("SELECT 1 FROM mysql.user WHERE User = 'root'")
                .await
                .map_err(DriverError::query("MariaDB"))?;
            let _ = conn.disconnect().await;
            Ok(found.is_some())
        }
        .boxed()
    }
}
