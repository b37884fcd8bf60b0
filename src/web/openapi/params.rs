//! The path and query parameters routes share, as `IntoParams` types the handlers'
//! `#[utoipa::path]` annotations name.

use utoipa::IntoParams;

/// `/v1.0/{tenant_id}/…`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct Tenant {
    /// The project's id; it must be the token's project (or the caller an admin).
    tenant_id: String,
}

/// `/v1.0/{tenant_id}/instances/{id}/…`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantInstance {
    /// The project's id.
    tenant_id: String,
    /// The instance's id.
    id: String,
}

/// `…/datastores/versions/{version}/parameters` (and the mgmt twin).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantVersion {
    /// The project's id; it must be the token's project (or the caller an admin).
    tenant_id: String,
    /// The version's id.
    version: String,
}

/// `…/datastores/versions/{version}/parameters/{name}` (and the mgmt twin).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct VersionParameter {
    /// The project's id; it must be the token's project (or the caller an admin).
    tenant_id: String,
    /// The version's id.
    version: String,
    /// The parameter's name.
    name: String,
}

/// `…/{id}` of a resource other than an instance (backup, configuration group, flavor, server).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantResource {
    /// The project's id.
    tenant_id: String,
    /// The resource's id.
    id: String,
}
