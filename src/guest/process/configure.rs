//! A configuration group's values on a real server: checked against what coffer keeps for
//! itself, kept in the volume's settings (so every later start renders them), written into the
//! server's configuration, and applied to the running server where it allows.

use super::{failed, ProcessDatastore, Server};
use crate::guest::messages::{AppliedOverrides, Override};
use crate::guest::{GuestError, ServerSettings};
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Refuses a name coffer keeps for itself, or one that is not a plain parameter name (even if
/// it reached the guest past the catalog: an admin's row, a bug, a forged message).
fn guard(manager: crate::manager::Manager, overrides: &BTreeMap<String, Override>) -> Result<(), GuestError> {
    for name in overrides.keys() {
        if !crate::parameters::plain_name(name) || crate::parameters::denied(manager, name) {
            return Err(GuestError::Unprocessable(format!(
                "The configuration parameter {name} cannot be set: coffer manages it."
            )));
        }
    }
    Ok(())
}

/// Keeps `overrides` as the server's set and writes its configuration (Trove's
/// `update_overrides`); the running server is left as it is. What the set no longer names is
/// remembered as released until the server applies the set.
pub(super) fn write<S: Server>(
    server: &S,
    shared: &Mutex<ServerSettings>,
    overrides: BTreeMap<String, Override>,
) -> Result<ServerSettings, GuestError> {
    guard(server.manager(), &overrides)?;
    let settings = {
        let mut settings = shared.lock();
        let gone: Vec<String> = settings
            .overrides
            .keys()
            .filter(|n| !overrides.contains_key(*n))
            .cloned()
            .collect();
        settings.released.extend(gone);
        for name in overrides.keys() {
            settings.released.remove(name);
        }
        settings.overrides = overrides;
        settings.clone()
    };
    ProcessDatastore::<S>::save_settings(server.dir(), &settings).map_err(failed)?;
    server.write_config(&settings).map_err(failed)?;
    Ok(settings)
}

/// Applies `overrides` to the running server (Trove's `apply_overrides`), writing them first if
/// they are not the set kept; a stopped server takes them at its next start. A value the server
/// refuses leaves its files (so that no later start meets it) and is answered as refused.
pub(super) async fn apply<S: Server>(
    server: &S,
    shared: &Mutex<ServerSettings>,
    overrides: BTreeMap<String, Override>,
) -> Result<AppliedOverrides, GuestError> {
    let kept = shared.lock().overrides == overrides;
    let settings = match kept {
        true => shared.lock().clone(),
        false => write(server, shared, overrides)?,
    };
    if !server.running() {
        return Ok(AppliedOverrides::default());
    }
    let mut applied = server.apply_overrides(settings).await.map_err(failed)?;
    if !applied.refused.is_empty() {
        let mut without = shared.lock().overrides.clone();
        for (name, _) in &applied.refused {
            without.remove(name);
        }
        let settings = write(server, shared, without)?;
        let refused = std::mem::take(&mut applied.refused);
        applied = server.apply_overrides(settings).await.map_err(failed)?;
        applied.refused = refused;
    }
    let settings = {
        let mut settings = shared.lock();
        settings.released.clear();
        settings.clone()
    };
    ProcessDatastore::<S>::save_settings(server.dir(), &settings).map_err(failed)?;
    Ok(AppliedOverrides {
        pending_restart: applied.pending,
        refused: applied.refused.iter().map(|(n, why)| format!("{n} ({why})")).collect(),
    })
}

/// Whether a server's shown value is the wanted one: numbers by value, switches by meaning
/// (`ON`, `1`, `yes`, `true`), other text regardless of case.
pub(crate) fn same_setting(shown: &str, wanted: &str) -> bool {
    let switch = |t: &str| match t.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Some(true),
        "off" | "no" | "false" => Some(false),
        _ => None,
    };
    match (shown.trim().parse::<f64>(), wanted.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => match (switch(shown), switch(wanted)) {
            (Some(a), Some(b)) => a == b,
            _ => shown.trim().eq_ignore_ascii_case(wanted.trim()),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_compare_by_meaning() {
        use super::same_setting;
        assert!(same_setting("100", "100"));
        assert!(same_setting("1048576", "1048576.0"));
        assert!(same_setting("ON", "on"));
        assert!(same_setting("yes", "true"));
        assert!(!same_setting("OFF", "on"));
        assert!(same_setting("allkeys-lru", "ALLKEYS-LRU"));
        assert!(!same_setting("150", "100"));
    }
}
