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

/// Applies the group's values to the running server and returns released ones to their
/// defaults: coffer's tunable one (`maxmemory`), else the server's own at its next start.
pub(super) async fn apply(server: &RedisServer, settings: ServerSettings) -> Result<Applied, DriverError> {
    let mut conn = server.admin().await?;
    let (mut pending, mut refused) = (Vec::new(), Vec::new());
    let mut wanted: Vec<(String, Option<String>, bool)> = settings
        .overrides
        .iter()
        .map(|(name, o)| (name.clone(), Some(text(&o.value)), o.restart_required))
        .collect();
    for name in &settings.released {
        let tunable = (name == "maxmemory").then(|| super::default_maxmemory(&settings).to_string());
        wanted.push((name.clone(), tunable, false));
    }
    for (name, value, restart_required) in wanted {
        let Some(now) = get(&mut conn, &name).await? else {
            continue;
        };
        let Some(value) = value else {
            // Its default is what the server has without the line: at its next start.
            pending.push(name);
            continue;
        };
        if same_setting(&now, &value) {
            continue;
        }
        match restart_required {
            true => pending.push(name),
            false => match set(&mut conn, &name, &value).await {
                Set::Done => {}
                Set::Immutable => pending.push(name),
                Set::Refused(reason) => refused.push((name, reason)),
            },
        }
    }
    pending.sort();
    Ok(Applied { pending, refused })
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
