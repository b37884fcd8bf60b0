//! The configuration parameters a group may set, per datastore: their catalog (read from the
//! servers' own metadata — `pg_settings`, MariaDB's `SYSTEM_VARIABLES`, Redis's `CONFIG` — into
//! the snapshots in `parameters/builtin/`, which a test checks against the running servers), the
//! parameters coffer keeps for itself and never lets a group set, and how a group's values are
//! checked against the catalog (Trove's `_validate_configuration`, with its messages).

use crate::manager::Manager;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// A parameter's type, as Trove's API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Integer,
    Float,
    Boolean,
    String,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Integer => "integer",
            ParamType::Float => "float",
            ParamType::Boolean => "boolean",
            ParamType::String => "string",
        }
    }

    pub fn parse(text: &str) -> Option<ParamType> {
        serde_json::from_value(Value::String(text.to_ascii_lowercase())).ok()
    }
}

/// One parameter of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: ParamType,
    pub restart_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// The server's unit of an integer (`8kB`, `kB`, `MB`, `B`, `ms`, `s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The values a string parameter takes, when it has a fixed set (as the server spells them).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    /// A regular expression a free string must match whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

#[derive(Deserialize)]
struct Snapshot {
    parameters: Vec<Parameter>,
}

/// The catalog coffer ships for `manager` (a simulated datastore takes PostgreSQL's, so every
/// API behaviour can be tried without a server).
pub fn builtin(manager: Manager) -> Vec<Parameter> {
    let text = match manager {
        Manager::Postgresql | Manager::Simulated => include_str!("parameters/builtin/postgresql.json"),
        Manager::Mariadb => include_str!("parameters/builtin/mariadb.json"),
        Manager::Redis => include_str!("parameters/builtin/redis.json"),
    };
    // The snapshots are part of the build and checked by a unit test.
    let snapshot: Snapshot = serde_json::from_str(text).unwrap_or(Snapshot { parameters: Vec::new() });
    snapshot
        .parameters
        .into_iter()
        .filter(|p| !denied(manager, &p.name))
        .collect()
}

/// A parameter's name as the catalog keys it: lower case; MariaDB's `-` spelled `_`.
pub fn canonical(manager: Manager, key: &str) -> String {
    let lower = key.trim().to_ascii_lowercase();
    match manager {
        Manager::Mariadb => lower.replace('-', "_"),
        _ => lower,
    }
}

/// Why a group's values are refused (Trove's messages name the parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The request is malformed (a parameter given twice): Trove's 400.
    #[error("{0}")]
    Malformed(String),
    /// A value the catalog refuses (unknown or kept parameter, type, range): Trove's 422.
    #[error("{0}")]
    Refused(String),
}

fn unprocessable(message: String) -> ValueError {
    ValueError::Refused(message)
}

/// A number's place against a bound: integers exactly (as i128), floats as f64.
fn below(value: &Number, bound: &Number) -> bool {
    match (as_i128(value), as_i128(bound)) {
        (Some(v), Some(b)) => v < b,
        _ => value.as_f64().unwrap_or(f64::NAN) < bound.as_f64().unwrap_or(f64::NAN),
    }
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Checks one value against its parameter; answers the value as it is stored (an enum value in
/// the server's spelling).
pub fn check_value(p: &Parameter, value: &Value) -> Result<Value, ValueError> {
    let key = &p.name;
    let wrong_type = || {
        unprocessable(format!(
            "The value provided for the configuration parameter {key} is not of type {}.",
            p.data_type.name()
        ))
    };
    match (p.data_type, value) {
        (ParamType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (ParamType::Integer, Value::Number(n)) if as_i128(n).is_some() => check_range(p, n).map(|()| value.clone()),
        (ParamType::Float, Value::Number(n)) => check_range(p, n).map(|()| value.clone()),
        (ParamType::String, Value::String(text)) => check_string(p, text),
        _ => Err(wrong_type()),
    }
}

fn check_range(p: &Parameter, n: &Number) -> Result<(), ValueError> {
    let key = &p.name;
    if let Some(min) = p.min.as_ref().filter(|min| below(n, min)) {
        return Err(unprocessable(format!(
            "The value for the configuration parameter {key} is less than the minimum allowed: {min}"
        )));
    }
    if let Some(max) = p.max.as_ref().filter(|max| below(max, n)) {
        return Err(unprocessable(format!(
            "The value for the configuration parameter {key} is greater than the maximum allowed: {max}"
        )));
    }
    Ok(())
}

fn check_string(p: &Parameter, text: &str) -> Result<Value, ValueError> {
    let key = &p.name;
    if let Some(allowed) = &p.enum_values {
        return allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(text))
            .map(|a| Value::String(a.clone()))
            .ok_or_else(|| {
                unprocessable(format!(
                    "The value provided for the configuration parameter {key} is not one of: {}.",
                    allowed.join(", ")
                ))
            });
    }
    let printable = text.len() <= 1024 && text.chars().all(|c| (' '..='~').contains(&c));
    let pattern = p.pattern.as_deref().unwrap_or("^[ -~]{0,256}$");
    let matches = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text));
    if printable && matches {
        Ok(Value::String(text.to_string()))
    } else {
        Err(unprocessable(format!(
            "The value provided for the configuration parameter {key} is not a valid string: it must match {pattern}."
        )))
    }
}

/// Checks a group's values against `catalog` (the version's live rows): each key known, allowed,
/// given once, and its value of the parameter's type and range. The first refusal (in key
/// order) answers; nothing is stored or applied.
pub fn validate(
    manager: Manager,
    version_label: &str,
    catalog: &[Parameter],
    values: &Map<String, Value>,
) -> Result<BTreeMap<String, Value>, ValueError> {
    if catalog.is_empty() && !values.is_empty() {
        return Err(unprocessable(format!(
            "Configuration groups are not supported for this datastore: {version_label}"
        )));
    }
    let by_name: BTreeMap<&str, &Parameter> = catalog.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut checked = BTreeMap::new();
    let mut keys: Vec<&String> = values.keys().collect();
    keys.sort();
    for key in keys {
        let name = canonical(manager, key);
        let Some(p) = by_name.get(name.as_str()).filter(|_| !denied(manager, &name)) else {
            return Err(unprocessable(format!(
                "The configuration parameter {key} is not supported for this datastore: {version_label}."
            )));
        };
        if checked.contains_key(&name) {
            return Err(ValueError::Malformed(format!(
                "The configuration parameter {key} is given more than once."
            )));
        }
        checked.insert(name, check_value(p, &values[key.as_str()])?);
    }
    Ok(checked)
}

/// Whether `name` is a plain parameter name (lower-case letters, digits, `_` and `-`, at most
/// 128): the only names that reach a configuration file or a `SET` statement.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

mod policy;
pub use policy::{check_memory, denied};

#[cfg(test)]
mod tests;
