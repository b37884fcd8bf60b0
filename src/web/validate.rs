//! Request bodies checked as Trove's JSON schemas check them (`trove/common/apischema.py`),
//! with messages in the schema validator's words. Semantic checks (does the flavor exist?)
//! happen later, against the database.

use crate::error::ApiError;
use crate::guest::{DatabaseSpec, UserSpec};
pub use crate::intents::CreateInstance;
use serde_json::{Map, Value};

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

pub(crate) fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| bad(format!("{value} is not of type 'object' ({what})")))
}

pub(crate) fn string_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!("{other} is not of type 'string' ({key})"))),
    }
}

pub(crate) fn name_field(obj: &Map<String, Value>) -> Result<String, ApiError> {
    let name = string_field(obj, "name")?.ok_or_else(|| bad("'name' is a required property"))?;
    if name.is_empty() || name.chars().count() > 255 {
        return Err(bad(format!("'{name}' is not a valid name: 1 to 255 characters")));
    }
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(bad(format!("'{name}' does not match '^.*[0-9a-zA-Z]+.*$'")));
    }
    super::input::check_printable("name", &name)?;
    Ok(name)
}

fn flavor_field(obj: &Map<String, Value>) -> Result<String, ApiError> {
    // openstacksdk sends `flavor` (a string or {"id"}) instead of `flavorRef`.
    let raw = obj.get("flavorRef").or_else(|| obj.get("flavor"));
    let raw = match raw {
        Some(Value::Object(o)) => o.get("id"),
        other => other,
    };
    let id = match raw {
        None | Some(Value::Null) => return Err(bad("'flavorRef' is a required property")),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(other) => {
            return Err(bad(format!(
                "{other} is not valid under any of the given schemas (flavorRef)"
            )))
        }
    };
    Ok(id)
}

/// The flavor id or name a `flavorRef` names: itself, or the last segment of a link to one of
/// this API's own flavors (`{public_url}/v1.0/{tenant}/flavors/{id}`, its bookmark
/// `{public_url}/flavors/{id}`, or either path alone). A link elsewhere is refused.
pub fn flavor_key(reference: &str, public_url: &str, tenant: &str) -> Result<String, ApiError> {
    if !reference.contains('/') {
        return Ok(reference.to_string());
    }
    let path = match reference.strip_prefix(public_url) {
        Some(rest) => rest,
        None if reference.starts_with('/') => reference,
        None => {
            return Err(bad(format!(
                "flavorRef '{reference}' is not a flavor of this service ({public_url})."
            )))
        }
    };
    let own = [format!("/v1.0/{tenant}/flavors/"), "/flavors/".to_string()];
    own.iter()
        .find_map(|prefix| path.strip_prefix(prefix.as_str()))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| bad(format!("flavorRef '{reference}' is not a link to a flavor.")))
}

/// `volume.size`: an integer ≥ 1 or a positive integer string, as Trove's schema allows.
fn volume_field(obj: &Map<String, Value>) -> Result<Option<i32>, ApiError> {
    let Some(volume) = obj.get("volume").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let volume = object(volume, "volume")?;
    let size = volume.get("size").ok_or_else(|| bad("'size' is a required property"))?;
    let n = match size {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| bad(format!("{size} is not of type 'integer'")))?,
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            s.parse::<i64>().map_err(|_| bad(format!("'{s}' is too large")))?
        }
        other => {
            return Err(bad(format!(
                "{other} is not valid under any of the given schemas (volume size)"
            )))
        }
    };
    if n < 1 {
        return Err(bad(format!("{n} is less than the minimum of 1")));
    }
    i32::try_from(n).map(Some).map_err(|_| bad(format!("{n} is too large")))
}

fn items<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Vec<&'a Map<String, Value>>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|i| object(i, key)).collect(),
        Some(other) => Err(bad(format!("{other} is not of type 'array' ({key})"))),
    }
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match string_field(obj, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(bad(format!("'{key}' must not be empty"))),
        None => Err(bad(format!("'{key}' is a required property"))),
    }
}

fn no_duplicates<'a>(kind: &str, names: impl Iterator<Item = &'a str>) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(bad(format!("The {kind} name '{name}' is given more than once.")));
        }
    }
    Ok(())
}

/// `databases: [{"name", "character_set"?, "collate"?}]` (Trove's database schema).
pub fn databases_field(obj: &Map<String, Value>) -> Result<Vec<DatabaseSpec>, ApiError> {
    let dbs = items(obj, "databases")?
        .into_iter()
        .map(|db| {
            Ok(DatabaseSpec {
                name: required_string(db, "name")?,
                character_set: string_field(db, "character_set")?,
                collate: string_field(db, "collate")?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    no_duplicates("database", dbs.iter().map(|d| d.name.as_str()))?;
    Ok(dbs)
}

/// `users: [{"name", "password", "host"?, "databases"?: [{"name"}]}]` (Trove's user schema).
pub fn users_field(obj: &Map<String, Value>) -> Result<Vec<UserSpec>, ApiError> {
    let users = items(obj, "users")?
        .into_iter()
        .map(|u| {
            let host = string_field(u, "host")?;
            check_host(host.as_deref())?;
            let databases = items(u, "databases")?
                .into_iter()
                .map(|d| required_string(d, "name"))
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(UserSpec {
                name: required_string(u, "name")?,
                password: required_string(u, "password")?,
                host,
                databases,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    no_duplicates("user", users.iter().map(|u| u.name.as_str()))?;
    Ok(users)
}

/// A user's `host`: `%` or an IP address.
fn check_host(host: Option<&str>) -> Result<(), ApiError> {
    if let Some(h) = host.filter(|h| *h != "%") {
        h.parse::<std::net::IpAddr>()
            .map_err(|_| bad(format!("'{h}' is not a valid host ('%' or an IP address)")))?;
    }
    Ok(())
}

/// `PUT /users/{user}`'s `{"user": {"name"?, "host"?, "password"?}}` (Trove's
/// `update_attributes`): at least one of them, each a non-empty string.
pub fn user_change(body: &Value) -> Result<crate::guest::UserChange, ApiError> {
    let attrs = body
        .get("user")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("'user' is a required property"))?;
    let change = crate::guest::UserChange {
        name: string_field(attrs, "name")?,
        host: string_field(attrs, "host")?,
        password: string_field(attrs, "password")?,
    };
    let given = [&change.name, &change.host, &change.password];
    if given.iter().all(|f| f.is_none()) {
        return Err(bad("'user' names none of name, host, password"));
    }
    if given
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| v.is_empty() || v.chars().count() > 255))
    {
        return Err(bad("name, host and password are 1 to 255 characters"));
    }
    check_host(change.host.as_deref())?;
    Ok(change)
}

/// `nics: [{"net-id" | "network_id": "…"}]` (at most one, as Trove's schema).
fn nics_field(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let nics = items(obj, "nics")?;
    if nics.len() > 1 {
        return Err(bad("nics has more than 1 item"));
    }
    let Some(nic) = nics.first() else { return Ok(None) };
    match string_field(nic, "net-id")?.or(string_field(nic, "network_id")?) {
        Some(net) => Ok(Some(net)),
        None => Ok(None),
    }
}

/// An update's `access` object (only its two keys).
pub fn access(value: &Value) -> Result<(), ApiError> {
    let obj = value
        .as_object()
        .ok_or_else(|| bad(format!("{value} is not of type 'object' (access)")))?;
    if let Some(unknown) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "is_public" | "allowed_cidrs"))
    {
        return Err(bad(format!(
            "Additional properties are not allowed ('{unknown}' was unexpected) (access)"
        )));
    }
    access_field(obj).map(|_| ())
}

/// `access: {"is_public": bool, "allowed_cidrs": ["a.b.c.d[/nn]"]}`.
fn access_field(access: &Map<String, Value>) -> Result<Value, ApiError> {
    if let Some(public) = access.get("is_public").filter(|v| !v.is_boolean() && !v.is_null()) {
        return Err(bad(format!("{public} is not of type 'boolean' (is_public)")));
    }
    for cidr in items_of_strings(access, "allowed_cidrs")? {
        let (addr, bits) = cidr.split_once('/').unwrap_or((cidr.as_str(), "32"));
        let ok = addr.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32);
        if !ok {
            return Err(bad(format!("'{cidr}' is not a valid IPv4 CIDR (allowed_cidrs)")));
        }
    }
    Ok(Value::Object(access.clone()))
}

fn items_of_strings(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("{i} is not of type 'string' ({key})")))
            })
            .collect(),
        Some(other) => Err(bad(format!("{other} is not of type 'array' ({key})"))),
    }
}

/// `{"flavorRef": id-or-href}` or `{"volume": {"size": N}}` of a resize action.
pub fn resize(body: &Value) -> Result<crate::intents::Resize, ApiError> {
    let obj = object(body, "resize")?;
    match (obj.get("flavorRef").is_some(), obj.get("volume")) {
        (true, None) => Ok(crate::intents::Resize::Flavor(flavor_field(obj)?)),
        (false, Some(_)) => {
            let size = volume_field(obj)?.ok_or_else(|| bad("'size' is a required property"))?;
            Ok(crate::intents::Resize::Volume(size))
        }
        _ => Err(bad("A resize names exactly one of 'flavorRef' and 'volume'.")),
    }
}

/// Checks `POST /instances`.
pub fn create_instance(body: &Value) -> Result<CreateInstance, ApiError> {
    let top = object(body, "request body")?;
    let instance = top
        .get("instance")
        .ok_or_else(|| bad("'instance' is a required property"))?;
    let obj = object(instance, "instance")?;
    if obj.get("cluster_config").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::NotImplemented("cluster_config is not supported yet.".into()));
    }
    let (replica_of, replica_count) = super::replicas::create_fields(obj)?;
    // A replica's flavor is its source's unless it names one.
    let flavor_id = match (&replica_of, obj.get("flavorRef").or_else(|| obj.get("flavor"))) {
        (Some(_), None | Some(Value::Null)) => String::new(),
        _ => flavor_field(obj)?,
    };
    let (datastore_type, datastore_version) = match obj.get("datastore").filter(|v| !v.is_null()) {
        Some(ds) => {
            let ds = object(ds, "datastore")?;
            (string_field(ds, "type")?, string_field(ds, "version")?)
        }
        None => (None, None),
    };
    let access = match obj.get("access").filter(|v| !v.is_null()) {
        Some(a) => Some(access_field(object(a, "access")?)?),
        None => None,
    };
    Ok(CreateInstance {
        name: name_field(obj)?,
        flavor_id,
        volume_size: volume_field(obj)?,
        datastore_type,
        datastore_version,
        databases: databases_field(obj)?,
        users: users_field(obj)?,
        access,
        network_id: nics_field(obj)?,
        restore_backup_id: restore_field(obj)?,
        configuration_id: super::configurations::configuration_field(obj)?.flatten(),
        replica_of,
        replica_count,
    })
}

/// `restorePoint: {"backupRef": "<id>"}`.
fn restore_field(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match obj.get("restorePoint").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(point) => {
            let point = object(point, "restorePoint")?;
            match string_field(point, "backupRef")? {
                Some(id) if !id.is_empty() => Ok(Some(id)),
                _ => Err(bad("'backupRef' is a required property (restorePoint)")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(instance: Value) -> Result<CreateInstance, ApiError> {
        create_instance(&json!({ "instance": instance }))
    }

    #[test]
    fn accepts_what_openstack_sends() {
        let ok = create(
            json!({"name": "i1", "flavorRef": "2", "volume": {"size": 1, "type": null},
            "datastore": {"type": "simulated", "version": "1"}, "nics": [{"network_id": "n"}],
            "users": [{"name": "u", "password": "p", "databases": [{"name": "d"}]}], "databases": [{"name": "d"}]}),
        )
        .expect("valid");
        assert_eq!(ok.volume_size, Some(1));
        assert_eq!(ok.users[0].databases, vec!["d".to_string()]);
        assert_eq!(
            create(json!({"name": "i", "flavor": {"id": "2"}}))
                .expect("sdk form")
                .flavor_id,
            "2"
        );
        assert_eq!(
            create(json!({"name": "i", "flavorRef": 2, "volume": {"size": "3"}}))
                .expect("int")
                .volume_size,
            Some(3)
        );
    }

    #[test]
    fn rejects_what_trove_rejects() {
        for bad_instance in [
            json!({"flavorRef": "2"}),
            json!({"name": "", "flavorRef": "2"}),
            json!({"name": "---", "flavorRef": "2"}),
            json!({"name": "i"}),
            json!({"name": "i", "flavorRef": "2", "volume": {"size": 0}}),
            json!({"name": "i", "flavorRef": "2", "volume": {"size": -1}}),
            json!({"name": "i", "flavorRef": "2", "volume": {"size": "abc"}}),
            json!({"name": "i", "flavorRef": "2", "volume": {}}),
            json!({"name": 5, "flavorRef": "2"}),
            json!({"name": "i", "flavorRef": "2", "users": [{"name": "u"}]}),
        ] {
            assert!(
                matches!(create(bad_instance.clone()), Err(ApiError::BadRequest(_))),
                "{bad_instance}"
            );
        }
        assert!(matches!(create_instance(&json!([1])), Err(ApiError::BadRequest(_))));
    }
}
