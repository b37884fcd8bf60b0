//! `/mgmt`: actors and their tree, supervision events, flows, services; and the Compute view.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
