//! The API versions, the event stream and the operations endpoints.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
