//! Keystone's v3 subset: versions, token requests and the token body.

#[allow(unused_imports)]
use super::common::{Link, Reference};
#[allow(unused_imports)]
use utoipa::ToSchema;
