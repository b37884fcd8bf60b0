//! `COFFER_<SECTION>_<KEY>` environment overrides: each value parsed as the type of the key it
//! overrides; a variable that names no key is left to the caller to warn about.

use super::ConfigError;

/// Applies `COFFER_<rest>=value` to the config tree; false when it names no key (nothing is
/// changed then). A value that does not parse as its key's type is an error.
pub(super) fn apply_override(tree: &mut toml::Value, rest: &str, value: &str) -> Result<bool, ConfigError> {
    let Some((section, key)) = rest.split_once('_') else {
        return Ok(false);
    };
    let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
    let Some(slot) = tree.get_mut(&section).and_then(|s| s.get_mut(&key)) else {
        return Ok(false);
    };
    let bad = |what: &str| ConfigError::Invalid(format!("COFFER_{rest}={value:?}: expected {what}"));
    *slot = match slot {
        toml::Value::Integer(_) => toml::Value::Integer(value.trim().parse().map_err(|_| bad("an integer"))?),
        toml::Value::Float(_) => toml::Value::Float(value.trim().parse().map_err(|_| bad("a number"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(value.trim().parse().map_err(|_| bad("true or false"))?),
        toml::Value::Array(_) => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(value.to_string()),
    };
    Ok(true)
}
