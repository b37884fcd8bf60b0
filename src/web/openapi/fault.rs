//! Trove's fault body as a schema: one key, the fault's name (`badRequest`, `itemNotFound`, …),
//! holding the status code and a message — what [`crate::error::ApiError`] renders.

use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// `{"<faultName>": {"code": 404, "message": "…"}}`.
pub struct Fault;

/// The one value of a [`Fault`].
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FaultDetail {
    /// The HTTP status, repeated.
    code: u16,
    /// What went wrong, for a person.
    message: String,
}

impl PartialSchema for Fault {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "Trove's fault body: one key, the fault's name (badRequest, unauthorized, \
                 forbidden, itemNotFound, badMethod, conflictingRequest, overLimit, \
                 badMediaType, unprocessableEntity, serviceUnavailable, …).",
            ))
            .additional_properties(Some(FaultDetail::schema()))
            .min_properties(Some(1))
            .max_properties(Some(1))
            .into()
    }
}

impl ToSchema for Fault {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Fault")
    }
}
