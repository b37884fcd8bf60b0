//! The API versions, the liveness probe, and the event stream's events.

use super::common::Link;
use utoipa::ToSchema;

/// One API version.
#[derive(ToSchema)]
pub struct ApiVersion {
    id: String,
    status: String,
    updated: String,
    links: Vec<Link>,
}

/// `GET /`.
#[derive(ToSchema)]
pub struct ApiVersionList {
    versions: Vec<ApiVersion>,
}

/// `GET /healthz`: the API process answers.
#[derive(ToSchema)]
pub struct Health {
    /// `ok`.
    status: String,
    /// The process's role (`all`, `api`, …).
    role: String,
}

/// One Server-Sent Event of `GET /v1.0/{tenant_id}/events`, as a client reads it: its SSE
/// `id` (the stored event's id, to resume from with `Last-Event-ID`), its `event` name, and
/// its `data`, a JSON object: `{"id", "at", "type", "project_id", "<type>": {…}}` where
/// `<type>` is `instance` (`id`, `name`, `status`, `operating_status`, `task_description`,
/// `server_status`, `service_status`), `backup` (the backup's stored columns), `flow` (`id`,
/// `kind`, `target_id`, `step`, `step_name`, `status`, `attempts`, `last_error`; `owner` for
/// admins) or `supervision` (admins' streams only).
#[derive(ToSchema)]
pub struct StreamedEvent {
    /// The stored event's id.
    id: Option<String>,
    /// `instance`, `backup`, `flow` or `supervision`.
    event: String,
    /// The event as JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
}
