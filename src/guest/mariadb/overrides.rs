//! A configuration group's values on MariaDB: rendered into `my.cnf` after the tunable
//! defaults and before the settings coffer keeps (a later option wins), and applied with
//! `SET GLOBAL` where the variable is dynamic; a read-only one waits for a restart. A value the
//! group lets go of returns to what the server had before the group first set it.

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

/// The option lines of the group's values.
pub(super) fn lines(settings: &ServerSettings) -> Vec<String> {
    settings
        .overrides
        .iter()
        .map(|(name, o)| match &o.value {
            Value::String(s) => format!("{name} = \"{s}\""),
            other => format!("{name} = {}", text(other)),
        })
        .collect()
}

/// Each variable's (global value, read-only) as the server shows it.
async fn shown(
    conn: &mut mysql_async::Conn,
    names: &[String],
) -> Result<BTreeMap<String, (String, bool)>, DriverError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let marks = vec!["?"; names.len()].join(", ");
    let sql = format!(
        "SELECT LOWER(VARIABLE_NAME), COALESCE(GLOBAL_VALUE, ''), READ_ONLY = 'YES' \
         FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME IN ({marks})"
    );
    let upper: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
    let rows: Vec<(String, String, bool)> = conn.exec(sql, upper).await.map_err(DriverError::query("MariaDB"))?;
    Ok(rows.into_iter().map(|(n, v, ro)| (n, (v, ro))).collect())
}

/// Applies the group's values to the running server; answers what waits for a restart and the
/// baseline as it is now.
pub(super) async fn apply(server: &MariaServer, settings: ServerSettings) -> Result<Applied, DriverError> {
    let mut baseline = settings.baseline;
    let names: Vec<String> = settings.overrides.keys().chain(baseline.keys()).cloned().collect();
    let mut conn = server.admin().await?;
    let result = async {
        let live = shown(&mut conn, &names).await?;
        let mut pending = Vec::new();
        let mut wanted: Vec<(String, String)> = Vec::new();
        for (name, o) in &settings.overrides {
            let Some((now, read_only)) = live.get(name) else {
                continue;
            };
            baseline.entry(name.clone()).or_insert_with(|| now.clone());
            wanted.push((name.clone(), text(&o.value)));
            if *read_only && !same_setting(now, &text(&o.value)) {
                pending.push(name.clone());
            }
        }
        let released: Vec<String> = baseline
            .keys()
            .filter(|n| !settings.overrides.contains_key(*n))
            .cloned()
            .collect();
        for name in released {
            let Some((now, read_only)) = live.get(&name) else {
                continue;
            };
            let before = baseline[&name].clone();
            if *read_only {
                if !same_setting(now, &before) {
                    pending.push(name.clone());
                }
            } else {
                wanted.push((name.clone(), before));
            }
            baseline.remove(&name);
        }
        let mut refused = Vec::new();
        for (name, value) in wanted {
            let dynamic = live.get(&name).is_some_and(|(_, ro)| !ro);
            let plain = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if dynamic && plain {
                if let Err(e) = conn
                    .query_drop(format!("SET GLOBAL {name} = {}", sql_value(&value)))
                    .await
                {
                    refused.push((name, e.to_string()));
                }
            }
        }
        pending.sort();
        Ok(Applied {
            pending,
            refused,
            baseline,
        })
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
    Ok(result?.into_iter().map(|(n, (v, _))| (n, v)).collect())
}
