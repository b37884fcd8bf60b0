//! Databases, users, their access, and root.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
