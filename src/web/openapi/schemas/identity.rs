//! Keystone's v3 subset: the version document, the token body, Keystone's error body. (The
//! token request's schema is derived on the types `issue_token` parses, in `web::keystone`.)

use super::compute::MediaType;
use utoipa::ToSchema;

/// A Keystone link.
#[derive(ToSchema)]
pub struct KeystoneLink {
    rel: String,
    href: String,
}

/// Keystone's version document.
#[derive(ToSchema)]
pub struct IdentityVersion {
    id: String,
    status: String,
    updated: String,
    links: Vec<KeystoneLink>,
    #[serde(rename = "media-types")]
    media_types: Vec<MediaType>,
}

/// `GET /v3`.
#[derive(ToSchema)]
pub struct IdentityVersionBody {
    version: IdentityVersion,
}

/// An id and a name (a domain, a role).
#[derive(ToSchema)]
pub struct Named {
    id: String,
    name: String,
}

/// The token's user.
#[derive(ToSchema)]
pub struct TokenUser {
    id: String,
    name: String,
    domain: Named,
    /// Always null: coffer's passwords do not expire.
    password_expires_at: Option<String>,
}

/// The project the token is scoped to.
#[derive(ToSchema)]
pub struct TokenProject {
    id: String,
    name: String,
    domain: Named,
}

/// One endpoint of a catalog service.
#[derive(ToSchema)]
pub struct CatalogEndpoint {
    id: String,
    /// `public`, `internal` or `admin`.
    interface: String,
    region: String,
    region_id: String,
    url: String,
}

/// A service of the catalog: `database` (this API), `compute`, `identity`.
#[derive(ToSchema)]
pub struct CatalogService {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    id: String,
    endpoints: Vec<CatalogEndpoint>,
}

/// A token as Keystone shows it; the token itself is the `X-Subject-Token` header.
#[derive(ToSchema)]
pub struct Token {
    methods: Vec<String>,
    user: TokenUser,
    audit_ids: Vec<String>,
    /// RFC 3339, microseconds.
    expires_at: String,
    issued_at: String,
    project: TokenProject,
    is_domain: bool,
    roles: Vec<Named>,
    /// Absent with `?nocatalog`.
    catalog: Option<Vec<CatalogService>>,
}

/// `{"token": {...}}`.
#[derive(ToSchema)]
pub struct TokenBody {
    token: Token,
}

/// Keystone's error body (the `/v3` routes answer with it instead of Trove's fault).
#[derive(ToSchema)]
pub struct KeystoneError {
    error: KeystoneErrorDetail,
}

#[derive(ToSchema)]
pub struct KeystoneErrorDetail {
    code: u16,
    title: String,
    message: String,
}
