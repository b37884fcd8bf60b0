//! The read-only Compute (Nova v2.1) view: versions, servers, flavors.

use serde_json::Value;
use utoipa::ToSchema;

/// A Nova link (`self`, `bookmark`).
#[derive(ToSchema)]
pub struct NovaLink {
    rel: String,
    href: String,
}

/// A media type a version speaks.
#[derive(ToSchema)]
pub struct MediaType {
    base: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Nova's v2.1 version document.
#[derive(ToSchema)]
pub struct ComputeVersion {
    id: String,
    status: String,
    version: String,
    min_version: String,
    updated: String,
    links: Vec<NovaLink>,
    #[serde(rename = "media-types")]
    media_types: Vec<MediaType>,
}

/// `GET /compute`.
#[derive(ToSchema)]
pub struct ComputeVersionList {
    versions: Vec<ComputeVersion>,
}

/// `GET /compute/v2.1`.
#[derive(ToSchema)]
pub struct ComputeVersionBody {
    version: ComputeVersion,
}

/// A server: its id, name and links; the detail view adds Nova's other keys.
#[derive(ToSchema)]
pub struct Server {
    id: String,
    name: String,
    links: Vec<NovaLink>,
    /// `ACTIVE`, `SHUTOFF`, `BUILD` or `ERROR` (detail only).
    status: Option<String>,
    tenant_id: Option<String>,
    user_id: Option<String>,
    /// `{"trove_instance_id": …}` (detail only).
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    flavor: Option<Value>,
    #[schema(value_type = Option<Object>)]
    addresses: Option<Value>,
    created: Option<String>,
    updated: Option<String>,
}

/// `GET /compute/v2.1/servers` and `/servers/detail`.
#[derive(ToSchema)]
pub struct ServerList {
    servers: Vec<Server>,
}

/// `GET /compute/v2.1/servers/{id}`.
#[derive(ToSchema)]
pub struct ServerBody {
    server: Server,
}

/// A flavor: id, name and links; the detail view adds its sizes and Nova's extension keys.
#[derive(ToSchema)]
pub struct ComputeFlavor {
    id: String,
    name: String,
    links: Vec<NovaLink>,
    ram: Option<i64>,
    vcpus: Option<i64>,
    disk: Option<i64>,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    ephemeral: Option<i64>,
    #[serde(rename = "OS-FLV-DISABLED:disabled")]
    disabled: Option<bool>,
    #[serde(rename = "os-flavor-access:is_public")]
    is_public: Option<bool>,
    swap: Option<String>,
    rxtx_factor: Option<f64>,
}

/// `GET /compute/v2.1/flavors` and `/flavors/detail`.
#[derive(ToSchema)]
pub struct ComputeFlavorList {
    flavors: Vec<ComputeFlavor>,
}

/// `GET /compute/v2.1/flavors/{id}`.
#[derive(ToSchema)]
pub struct ComputeFlavorBody {
    flavor: ComputeFlavor,
}
