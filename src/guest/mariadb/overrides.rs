//! A configuration group's values on MariaDB: rendered into `my.cnf` after the tunable
//! defaults and before the settings coffer keeps (a later option wins), and applied with
//! `SET GLOBAL` where the variable is dynamic; a read-only one waits for a restart. A value the
//! group lets go of returns to its default: coffer's tunable one, else the server's own.

use super::MariaServer;
use crate::guest::driver_error::DriverError;
use crate::guest::process::configure::same_setting;
use crate::guest::process::Applied;
use crate::guest::sql::quote_mysql_literal;
use crate::guest::ServerSettings;
use mysql_async::prelude::Queryable;
use serde_json::Value;
use std::collections::BTreeMap;

/// A value as an option file and `SET GLOBAL` take it.
fn text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "ON".into(),
        Value::Bool(false) => "OFF".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `SET GLOBAL`'s right side: numbers bare, everything else a string literal.
fn sql_value(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(_) => text.to_string(),
        Err(_) => quote_mysql_literal(text),
    }
}

/// The tunable defaults coffer renders (see `render_config`), by name.
pub(super) fn tunables(settings: &ServerSettings) -> Vec<(&'static str, String)> {
    let pool_mb = (settings.memory_mb / 2).max(32);
    vec![
        ("max_connections", "100".to_string()),
        ("innodb_buffer_pool_size", (pool_mb * 1024 * 1024).to_string()),
    ]
}

/// The option lines of the group's values (strings quoted; the catalog admits no quote,
/// backslash or `#` in them).
pub(super) fn lines(settings: &ServerSettings) -> Vec<String> {
    settings
        .overrides
        .iter()
        .map(|(name, o)| match &o.value {
            Value::String(s) => format!("{name} = \"{}\"", s.replace(['"', '\\', '#'], "")),
            other => format!("{name} = {}", text(other)),
        })
        .collect()
}

/// Each variable's (global value, default value, read-only) as the server shows it.
async fn shown(
    conn: &mut mysql_async::Conn,
    names: &[String],
) -> Result<BTreeMap<String, (String, String, bool)>, DriverError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let marks = vec!["?"; names.len()].join(", ");
    let sql = format!(
        "SELECT LOWER(VARIABLE_NAME), COALESCE(GLOBAL_VALUE, ''), COALESCE(DEFAULT_VALUE, ''), READ_ONLY = 'YES' \
         FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME IN ({marks})"
    );
    let upper: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
    let rows: Vec<(String, String, String, bool)> =
        conn.exec(sql, upper).await.map_err(DriverError::query("MariaDB"))?;
    Ok(rows.into_iter().map(|(n, v, d, ro)| (n, (v, d, ro))).collect())
}

/// Applies the group's values to the running server and returns released ones to their
/// defaults.
pub(super) async fn apply(server: &MariaServer, settings: ServerSettings) -> Result<Applied, DriverError> {
    let tunables = tunables(&settings);
    let names: Vec<String> = settings
        .overrides
        .keys()
        .chain(settings.released.iter())
        .cloned()
        .collect();
    let mut conn = server.admin().await?;
    let result = async {
        let live = shown(&mut conn, &names).await?;
        let mut wanted: Vec<(String, String)> = settings
            .overrides
            .iter()
            .map(|(name, o)| (name.clone(), text(&o.value)))
            .collect();
        for name in &settings.released {
            let default = tunables.iter().find(|(t, _)| t == name).map(|(_, v)| v.clone());
            if let Some((_, server_default, _)) = live.get(name) {
                wanted.push((name.clone(), default.unwrap_or_else(|| server_default.clone())));
            }
        }
        let (mut pending, mut refused) = (Vec::new(), Vec::new());
        for (name, value) in wanted {
            let Some((now, _, read_only)) = live.get(&name) else {
                continue;
            };
            if same_setting(now, &value) {
                continue;
            }
            // MariaDB's names have no `-`: one here is not a variable to SET.
            let plain = crate::parameters::plain_name(&name) && !name.contains('-');
            if *read_only || !plain {
                pending.push(name);
            } else if let Err(e) = conn
                .query_drop(format!("SET GLOBAL {name} = {}", sql_value(&value)))
                .await
            {
                refused.push((name, e.to_string()));
            }
        }
        pending.sort();
        Ok(Applied { pending, refused })
    }
    .await;
    let _ = conn.disconnect().await;
    result
}

/// The running server's values of `names`.
pub(super) async fn current(server: &MariaServer, names: Vec<String>) -> Result<BTreeMap<String, String>, DriverError> {
    let mut conn = server.admin().await?;
    let result = shown(&mut conn, &names).await;
    let _ = conn.disconnect().await;
    Ok(result?.into_iter().map(|(n, (v, ..))| (n, v)).collect())
}
