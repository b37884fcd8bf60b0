//! Limits and quotas.

use utoipa::ToSchema;

/// The project's absolute limits (-1: unlimited). Trove's rate limits are not listed.
#[derive(ToSchema)]
pub struct AbsoluteLimits {
    /// `ABSOLUTE`.
    verb: String,
    max_instances: i64,
    /// Memory of all its instances, MiB.
    max_ram: i64,
    /// Volume size of all its instances, GiB.
    max_volumes: i64,
    max_backups: i64,
}

/// `GET /limits`: `{"limits": [{"verb": "ABSOLUTE", …}]}`.
#[derive(ToSchema)]
pub struct LimitList {
    limits: Vec<AbsoluteLimits>,
}

/// One resource's quota of a project.
#[derive(ToSchema)]
pub struct QuotaUsage {
    /// `instances`, `ram`, `volumes` or `backups`.
    resource: String,
    in_use: i64,
    /// Always 0: coffer takes quota in the request's transaction and reserves none.
    reserved: i64,
    /// -1: unlimited.
    limit: i64,
}

/// `{"quotas": [...]}`: each resource's limit and use.
#[derive(ToSchema)]
pub struct QuotaList {
    quotas: Vec<QuotaUsage>,
}

/// New limits, by resource (-1: unlimited); a resource not named keeps its limit.
#[derive(ToSchema)]
pub struct QuotaLimits {
    #[schema(nullable = false, minimum = -1, maximum = 2147483647)]
    instances: Option<i64>,
    /// MiB.
    #[schema(nullable = false, minimum = -1, maximum = 2147483647)]
    ram: Option<i64>,
    /// GiB.
    #[schema(nullable = false, minimum = -1, maximum = 2147483647)]
    volumes: Option<i64>,
    #[schema(nullable = false, minimum = -1, maximum = 2147483647)]
    backups: Option<i64>,
}

/// `PUT /mgmt/quotas/{project}`: `{"quotas": {"instances": 10, …}}`.
#[derive(ToSchema)]
pub struct QuotaUpdateBody {
    quotas: QuotaLimits,
}
