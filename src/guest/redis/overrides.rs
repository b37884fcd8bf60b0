//! A configuration group's values on Redis: rendered into `redis.conf` after the tunable
//! defaults and before the settings coffer keeps (a later directive wins), and applied with
//! `CONFIG SET`; an immutable setting waits for a restart. A value the group lets go of returns
//! to what the server had before the group first set it.

use super::{quote, RedisServer};
use crate::guest::driver_error::DriverError;
use crate::guest::process::configure::same_setting;
use crate::guest::process::Applied;
use crate::guest::ServerSettings;
use serde_json::Value;
use std::collections::BTreeMap;

/// A value as the config file and `CONFIG SET` take it.
fn text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The config lines of the group's values.
pub(super) fn lines(settings: &ServerSettings) -> Vec<String> {
    settings
        .overrides
        .iter()
        .map(|(name, o)| format!("{name} {}", quote(&text(&o.value))))
        .collect()
}

async fn get(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> Result<Option<String>, DriverError> {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await
        .map_err(DriverError::query("Redis"))?;
    Ok(pair.get(1).cloned())
}

/// What `CONFIG SET` came to.
enum Set {
    Done,
    /// The setting changes only at a restart.
    Immutable,
    Refused(String),
}

async fn set(conn: &mut redis::aio::MultiplexedConnection, name: &str, value: &str) -> Set {
    let set: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(conn)
        .await;
    match set {
        Ok(()) => Set::Done,
        Err(e) if e.to_string().contains("immutable") => Set::Immutable,
        Err(e) => Set::Refused(e.to_string()),
    }
}

/// Applies the group's values to the running server; answers what waits for a restart and the
/// baseline as it is now.
pub(super) async fn apply(server: &RedisServer, settings: ServerSettings) -> Result<Applied, DriverError> {
    let mut baseline = settings.baseline;
    let mut conn = server.admin().await?;
    let (mut pending, mut refused) = (Vec::new(), Vec::new());
    for (name, o) in &settings.overrides {
        let Some(now) = get(&mut conn, name).await? else {
            continue;
        };
        baseline.entry(name.clone()).or_insert_with(|| now.clone());
        let wanted = text(&o.value);
        if same_setting(&now, &wanted) {
            continue;
        }
        match o.restart_required {
            true => pending.push(name.clone()),
            false => match set(&mut conn, name, &wanted).await {
                Set::Done => {}
                Set::Immutable => pending.push(name.clone()),
                Set::Refused(reason) => refused.push((name.clone(), reason)),
            },
        }
    }
    let released: Vec<String> = baseline
        .keys()
        .filter(|n| !settings.overrides.contains_key(*n))
        .cloned()
        .collect();
    for name in released {
        let before = baseline.remove(&name).unwrap_or_default();
        let Some(now) = get(&mut conn, &name).await? else {
            continue;
        };
        if !same_setting(&now, &before) && !matches!(set(&mut conn, &name, &before).await, Set::Done) {
            pending.push(name);
        }
    }
    pending.sort();
    Ok(Applied {
        pending,
        refused,
        baseline,
    })
}

/// The running server's values of `names`.
pub(super) async fn current(server: &RedisServer, names: Vec<String>) -> Result<BTreeMap<String, String>, DriverError> {
    let mut conn = server.admin().await?;
    let mut values = BTreeMap::new();
    for name in names {
        if let Some(value) = get(&mut conn, &name).await? {
            values.insert(name, value);
        }
    }
    Ok(values)
}
