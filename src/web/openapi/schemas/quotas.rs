//! Limits and quotas.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
