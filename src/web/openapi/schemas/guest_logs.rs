//! Guest logs: an instance's datastore logs as listed and shown, and the log action body.

use utoipa::ToSchema;

/// One of the datastore's logs.
#[derive(ToSchema)]
pub struct GuestLog {
    name: String,
    /// `USER` (switched on and off by the user) or `SYS` (always on).
    #[serde(rename = "type")]
    kind: String,
    /// `Disabled`, `Enabled`, `Ready`, `Published` or `Partial`.
    status: String,
    /// Bytes published to the object store.
    published: i64,
    /// Bytes written since and not yet published.
    pending: i64,
    /// The object store container it is published to.
    container: String,
    /// Where in the container.
    prefix: String,
    metafile: String,
}

/// `{"logs": [...]}`.
#[derive(ToSchema)]
pub struct GuestLogList {
    logs: Vec<GuestLog>,
}

/// `{"log": {...}}`.
#[derive(ToSchema)]
pub struct GuestLogBody {
    log: GuestLog,
}

/// A switch of a log action: a boolean, or 0 or 1 (what the clients send).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum LogFlag {
    Switch(bool),
    Number(i64),
}

/// `POST /instances/{id}/log`: what to do with one log (not both `enable` and `disable`).
#[derive(ToSchema)]
pub struct GuestLogActionRequest {
    /// The log's name (at most 64 bytes).
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// Switch a USER log on.
    enable: Option<LogFlag>,
    /// Switch a USER log off.
    disable: Option<LogFlag>,
    /// Copy the log to the object store.
    publish: Option<LogFlag>,
    /// Delete what was published.
    discard: Option<LogFlag>,
}
