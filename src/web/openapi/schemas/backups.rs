//! Backups, backup schedules and backup strategies.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
