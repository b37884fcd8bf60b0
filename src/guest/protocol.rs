//! The guest RPC methods (Trove's guest API names and arguments) answered by a call: decode the
//! arguments, run the driver's operation, encode the result. Errors travel back as a JSON
//! [`GuestError`] so the API can answer 422 or 501 as Trove does.

use super::messages::{
    Databases, GetConfiguration, Grant, OneDatabase, OneUser, Overrides, Resize, ResizeFs, RetainLogs, Revoke,
    UpdateAccess, UpdateAttributes, UserRef, Users,
};
use super::{Datastore, GuestError, GuestFuture};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

fn args<T: DeserializeOwned>(method: &str, value: &Value) -> Result<T, GuestError> {
    serde_json::from_value(value.clone())
        .map_err(|e| GuestError::Failed(format!("malformed arguments for {method}: {e}")))
}

fn to_value<T: serde::Serialize + Send + 'static>(op: GuestFuture<T>) -> GuestFuture<Value> {
    op.map(|r| r.and_then(|v| serde_json::to_value(v).map_err(|e| GuestError::Failed(e.to_string()))))
        .boxed()
}

/// Starts the operation `method` asks for; `Err` when the method is unknown or its arguments
/// are malformed.
pub fn call(ds: &mut dyn Datastore, method: &str, a: &Value) -> Result<GuestFuture<Value>, GuestError> {
    if let Some(op) = super::replication::ReplicationOp::from_call(method, a) {
        let op = op.map_err(|e| GuestError::Failed(format!("malformed arguments for {method}: {e}")))?;
        return Ok(ds.replication(op));
    }
    Ok(match method {
        "get_filesystem_stats" => to_value(ds.filesystem_stats()),
        "stop_db" => to_value(ds.stop()),
        "list_databases" => to_value(ds.list_databases()),
        "create_database" => to_value(ds.create_databases(args::<Databases>(method, a)?.databases)),
        "delete_database" => to_value(ds.delete_database(args::<OneDatabase>(method, a)?.database.name)),
        "list_users" => to_value(ds.list_users()),
        "create_user" => to_value(ds.create_users(args::<Users>(method, a)?.users)),
        "delete_user" => to_value(ds.delete_user(args::<OneUser>(method, a)?.user.name)),
        "change_passwords" => to_value(ds.change_passwords(args::<Users>(method, a)?.users)),
        "guest_log_list" => to_value(ds.log_list()),
        "update_attributes" => {
            let asked = args::<UpdateAttributes>(method, a)?;
            to_value(ds.update_user(asked.username, asked.user_attrs))
        }
        "get_user" | "list_access" => {
            let wanted = args::<UserRef>(method, a)?.username;
            let want_access = method == "list_access";
            ds.list_users()
                .map(move |r| {
                    let user = r?.into_iter().find(|u| u.name == wanted);
                    match (user, want_access) {
                        (None, _) => Ok(Value::Null),
                        (Some(u), false) => Ok(json!({"name": u.name, "host": u.host, "databases": u.databases})),
                        (Some(u), true) => Ok(json!(u.databases)),
                    }
                })
                .boxed()
        }
        "grant_access" => {
            let g = args::<Grant>(method, a)?;
            to_value(ds.grant_access(g.username, g.databases))
        }
        "revoke_access" => {
            let r = args::<Revoke>(method, a)?;
            to_value(ds.revoke_access(r.username, r.database))
        }
        "resize" => to_value(ds.resize_memory(args::<Resize>(method, a)?.memory_mb)),
        "retain_logs" => to_value(ds.retain_logs(args::<RetainLogs>(method, a)?.keep_from)),
        "resize_fs" => {
            let r = args::<ResizeFs>(method, a)?;
            to_value(ds.resize_volume(r.size_gb, r.limit_mb))
        }
        "update_access" => to_value(ds.update_access(args::<UpdateAccess>(method, a)?.allowed_cidrs)),
        "rebuild" => to_value(ds.rebuild()),
        "update_overrides" => to_value(ds.update_overrides(args::<Overrides>(method, a)?.overrides)),
        "apply_overrides" => to_value(ds.apply_overrides(args::<Overrides>(method, a)?.overrides)),
        "get_configuration" => to_value(ds.configuration(args::<GetConfiguration>(method, a)?.names)),
        "server_version" => to_value(ds.server_version()),
        "enable_root" => to_value(ds.enable_root()),
        "disable_root" => to_value(ds.disable_root()),
        "is_root_enabled" => to_value(ds.is_root_enabled()),
        other => return Err(GuestError::NotImplemented(format!("unknown method {other}"))),
    })
}

/// Encodes an error for the reply of a call.
pub fn encode_error(e: &GuestError) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| e.to_string())
}

/// Decodes a call's error reply (plain text from older peers reads as `Failed`).
pub fn decode_error(text: &str) -> GuestError {
    serde_json::from_str(text).unwrap_or_else(|_| GuestError::Failed(text.to_string()))
}
