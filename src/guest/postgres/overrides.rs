//! A configuration group's values on PostgreSQL: rendered into `coffer.conf` after the tunable
//! defaults and before the settings coffer keeps (a later line wins), applied by a reload,
//! after which the server itself says what waits for a restart (`pg_settings.pending_restart`,
//! which also covers a value the group let go of).

use super::PgServer;
use crate::guest::driver_error::DriverError;
use crate::guest::process::Applied;
use crate::guest::sql::quote_conf_literal;
use crate::guest::ServerSettings;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The configuration lines of the group's values.
pub(super) fn lines(settings: &ServerSettings) -> Vec<String> {
    settings
        .overrides
        .iter()
        .map(|(name, o)| {
            let text = match &o.value {
                Value::Bool(true) => "on".to_string(),
                Value::Bool(false) => "off".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{name} = {}", quote_conf_literal(&text))
        })
        .collect()
}

/// Reloads the configuration (just written): what waits for a restart, and what the server
/// refused (a value it could not take, which is not one waiting for a restart).
pub(super) async fn apply(server: &PgServer, settings: ServerSettings) -> Result<Applied, DriverError> {
    let client = server.admin("postgres").await?;
    let query = DriverError::query("PostgreSQL");
    let loaded_at = |row: tokio_postgres::Row| row.get::<_, String>(0);
    let before = client
        .query_one("SELECT pg_conf_load_time()::text", &[])
        .await
        .map(loaded_at)
        .map_err(DriverError::query("PostgreSQL"))?;
    client.batch_execute("SELECT pg_reload_conf()").await.map_err(query)?;
    // The postmaster reloads on its signal, a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = client
            .query_one("SELECT pg_conf_load_time()::text", &[])
            .await
            .map(loaded_at)
            .map_err(DriverError::query("PostgreSQL"))?;
        if now != before {
            break;
        }
        if Instant::now() > deadline {
            return Err(DriverError::failed(
                "PostgreSQL did not reload its configuration within 10 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending: Vec<String> = client
        .query(
            "SELECT lower(name) FROM pg_settings WHERE pending_restart ORDER BY 1",
            &[],
        )
        .await
        .map_err(DriverError::query("PostgreSQL"))?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    // A line the server could not take shows in pg_file_settings; one that only waits for a
    // restart is pending, any other was refused (the server keeps its old value).
    let errors = client
        .query(
            "SELECT lower(name), error FROM pg_file_settings WHERE error IS NOT NULL AND name IS NOT NULL",
            &[],
        )
        .await
        .map_err(DriverError::query("PostgreSQL"))?;
    let refused = errors
        .into_iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
        .filter(|(name, _)| !pending.contains(name) && settings.overrides.contains_key(name))
        .collect();
    Ok(Applied { pending, refused })
}

/// The running server's values of `names` (in the catalog's units).
pub(super) async fn current(server: &PgServer, names: Vec<String>) -> Result<BTreeMap<String, String>, DriverError> {
    // A session as clients get it: the admin's own timeouts are not what the server runs with.
    let client = server.connect_admin("postgres", "").await?;
    let rows = client
        .query(
            "SELECT lower(name), setting FROM pg_settings WHERE lower(name) = ANY($1)",
            &[&names],
        )
        .await
        .map_err(DriverError::query("PostgreSQL"))?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
}
