//! The API's error enum and its one mapping to Trove's fault bodies.
//!
//! Policy: every failure a client can cause is a variant with Trove's status code and fault name
//! (`{"badRequest": {"code": 400, "message": "…"}}`). Anything else is `Internal`: the cause is
//! logged once, here, and the client gets a generic 500. A missing pool connection, a closed
//! mailbox or an unreachable bus is `Unavailable` (503): the request can be retried.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// An error as the REST API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    NotImplemented(String),
    /// Too many at once (password checks, failed logins): try again after `retry_after_s`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    /// A request the HTTP layer refuses before any handler (head too large, URI too long,
    /// body over its limit, malformed framing): its status and message.
    #[error("{message}")]
    Protocol { status: u16, message: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Trove's fault name for this error (the body's only key).
    pub fn fault_name(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "badRequest",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "itemNotFound",
            ApiError::Conflict(_) => "conflictingRequest",
            ApiError::OverLimit(_) => "overLimit",
            ApiError::Unprocessable(_) => "unprocessableEntity",
            ApiError::MethodNotAllowed(_) => "badMethod",
            ApiError::NotImplemented(_) => "notImplemented",
            ApiError::TooManyRequests { .. } => "overLimit",
            ApiError::Protocol { status, .. } => protocol_fault_name(*status),
            ApiError::Unavailable(_) => "serviceUnavailable",
            ApiError::Internal(_) => "instanceFault",
        }
    }

    /// What the client is told (an internal error's cause is logged, never sent).
    pub fn client_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "The server has either erred or is incapable of performing the requested operation.".into()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::OverLimit(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Protocol { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error.cause = %cause, "internal error: {cause}");
        }
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if let ApiError::TooManyRequests { retry_after_s, .. } = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after_s.to_string()));
        }
        response.json(json!({
            self.fault_name(): {"code": status.as_u16(), "message": self.client_message()}
        }))
    }
}

/// Trove's fault names (webob's class names in lower camel case) of the HTTP layer's refusals.
fn protocol_fault_name(status: u16) -> &'static str {
    match status {
        408 => "requestTimeout",
        411 => "lengthRequired",
        413 => "overLimit",
        414 => "requestURITooLong",
        415 => "badMediaType",
        431 => "requestHeaderFieldsTooLarge",
        _ => "badRequest",
    }
}

/// A configuration value the catalog refuses (422), or a malformed set of them (400).
impl From<crate::parameters::ValueError> for ApiError {
    fn from(e: crate::parameters::ValueError) -> ApiError {
        match e {
            crate::parameters::ValueError::Malformed(m) => ApiError::BadRequest(m),
            crate::parameters::ValueError::Refused(m) => ApiError::Unprocessable(m),
        }
    }
}

/// A name, character set or collation the datastore refuses.
impl From<crate::guest::rules::Refused> for ApiError {
    fn from(e: crate::guest::rules::Refused) -> ApiError {
        ApiError::BadRequest(e.0)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::PoolExhausted(m) => ApiError::Unavailable(format!("database busy: {m}")),
            crate::db::DbError::Query(diesel::result::Error::NotFound) => ApiError::NotFound("not found".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::bus::BusError> for ApiError {
    fn from(e: crate::bus::BusError) -> Self {
        match e {
            crate::bus::BusError::Remote(m) => ApiError::BadRequest(m),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::Unavailable("the blocking thread pool is shutting down".into())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::from(crate::db::DbError::Query(e))
    }
}
