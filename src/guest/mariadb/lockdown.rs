//! No MariaDB account but coffer's admin (`os_admin@localhost`, password under the instance's
//! key), the locked system account `mariadb.sys@localhost` and the accounts the API creates —
//! all with passwords, root only as `root@'%'`. mariadb-install-db makes password-less or
//! socket-authenticated `root` accounts (`localhost`, `127.0.0.1`, `::1`, the host name), an
//! account for the installing OS user and sometimes anonymous ones: the first start's init file
//! removes them, and every prepare and adoption checks again and drops whatever does not belong
//! (an instance made by an older coffer, a restored backup of one).

use super::{MariaServer, ADMIN};
use crate::guest::driver_error::DriverError;
use crate::guest::sql::quote_mysql_literal as literal;
use mysql_async::prelude::Queryable;

/// Run by the init file at the first start (grant tables edited directly: the server is not
/// yet taking connections and FLUSH PRIVILEGES follows).
pub const INSTALLER_ACCOUNTS_SQL: &str =
    "DELETE FROM mysql.global_priv WHERE NOT (User = 'os_admin' AND Host = 'localhost') \
     AND NOT (User = 'mariadb.sys' AND Host = 'localhost');\nDELETE FROM mysql.proxies_priv;\n\
     DELETE FROM mysql.db WHERE User = '';\n";

/// Whether an account (a `mysql.global_priv` row) is one coffer made or keeps.
fn belongs(user: &str, host: &str, privileges: &serde_json::Value) -> bool {
    if privileges.get("is_role").and_then(|v| v.as_bool()) == Some(true) {
        return true; // roles cannot log in
    }
    match (user, host) {
        (ADMIN, "localhost") => return true,
        ("mariadb.sys", "localhost") => {
            return privileges.get("account_locked").and_then(|v| v.as_bool()) == Some(true)
        }
        ("", _) | (ADMIN, _) | ("mariadb.sys", _) => return false,
        ("root", host) if host != "%" => return false,
        _ => {}
    }
    // Accounts the API makes have a password and nothing else to log in with.
    let plugin = privileges.get("plugin").and_then(|v| v.as_str()).unwrap_or("");
    let secret = privileges
        .get("authentication_string")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let alternatives = privileges
        .get("auth_or")
        .and_then(|v| v.as_array())
        .is_some_and(|a| !a.is_empty());
    matches!(plugin, "mysql_native_password" | "ed25519") && !secret.is_empty() && secret != "invalid" && !alternatives
}

impl MariaServer {
    /// Drops every account that does not [`belong`](belongs); logs what it dropped.
    pub(super) async fn drop_foreign_accounts(&self) -> Result<(), DriverError> {
        let mut conn = self.admin().await?;
        let rows: Vec<(String, String, String)> = conn
            .query("SELECT User, Host, Priv FROM mysql.global_priv")
            .await
            .map_err(|e| DriverError::Failed(format!("MariaDB accounts: {e}")))?;
        let foreign: Vec<(String, String)> = rows
            .into_iter()
            .filter(|(user, host, priv_json)| {
                let privileges = serde_json::from_str(priv_json).unwrap_or(serde_json::Value::Null);
                !belongs(user, host, &privileges)
            })
            .map(|(user, host, _)| (user, host))
            .collect();
        for (user, host) in &foreign {
            let account = format!("{}@{}", literal(user), literal(host));
            conn.query_drop(format!("DROP USER IF EXISTS {account}"))
                .await
                .map_err(|e| DriverError::Failed(format!("dropping {account}: {e}")))?;
        }
        let _ = conn.disconnect().await;
        if !foreign.is_empty() {
            let names: Vec<String> = foreign.iter().map(|(u, h)| format!("'{u}'@'{h}'")).collect();
            tracing::warn!(volume = %self.spec.dir.display(), accounts = ?names, "dropped MariaDB accounts coffer did not make: {}", names.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_coffers_accounts_belong() {
        let password = json!({"plugin": "mysql_native_password", "authentication_string": "*ABC"});
        assert!(belongs("os_admin", "localhost", &password));
        assert!(belongs("app", "%", &password));
        assert!(belongs("app", "10.0.0.1", &password));
        assert!(belongs("root", "%", &password));
        assert!(!belongs("root", "127.0.0.1", &password));
        assert!(!belongs("root", "localhost", &password));
        assert!(!belongs("", "localhost", &password));
        assert!(!belongs(
            "ghost",
            "%",
            &json!({"plugin": "mysql_native_password", "authentication_string": ""})
        ));
        assert!(!belongs(
            "mysql",
            "localhost",
            &json!({"plugin": "mysql_native_password", "authentication_string": "invalid",
                    "auth_or": [{}, {"plugin": "unix_socket"}]})
        ));
        assert!(!belongs(
            "sock",
            "%",
            &json!({"plugin": "unix_socket", "authentication_string": ""})
        ));
        assert!(belongs("mariadb.sys", "localhost", &json!({"account_locked": true})));
        assert!(!belongs("mariadb.sys", "localhost", &json!({"account_locked": false})));
    }
}
