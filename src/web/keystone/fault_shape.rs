//! Keystone's error shape for every refusal under `/v3`, whoever made it — the identity
//! handlers' [`ApiError`](crate::error::ApiError)s, the request-line checks, the router's 404 and
//! 405, a query that does not parse, the rate brake: Trove's `{"badRequest": {"code", "message"}}`
//! becomes Keystone's `{"error": {"code", "title", "message"}}`, keeping the status and headers
//! (`Allow`, `Retry-After`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use serde_json::Value;

/// The largest error body reshaped (Trove's fault bodies are far smaller).
const MAX_FAULT_BYTES: usize = 64 * 1024;

/// Keystone's error body.
fn keystone_error(status: StatusCode, message: &str) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    HttpResponse::build(status)
        .json(serde_json::json!({"error": {"code": status.as_u16(), "title": title, "message": message}}))
}

/// Whether `path` is one of the identity routes.
fn is_identity(path: &str) -> bool {
    path == "/v3" || path.starts_with("/v3/")
}

/// The app-wide middleware: responses under `/v3` of 400 and above leave in Keystone's shape.
pub async fn in_keystone_shape(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !is_identity(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    match next.call(req).await {
        Ok(done) if done.status().as_u16() < 400 => Ok(done.map_into_boxed_body()),
        Ok(done) => {
            let (request, response) = done.into_parts();
            Ok(ServiceResponse::new(
                request,
                reshaped(response.map_into_boxed_body()).await,
            ))
        }
        // A middleware's refusal: it becomes its response further out, so it leaves as one
        // that already is in Keystone's shape.
        Err(refused) => {
            let response = reshaped(refused.error_response()).await;
            Err(actix_web::error::InternalError::from_response(refused.to_string(), response).into())
        }
    }
}

/// `response` in Keystone's shape (as it is when it already is, or when it is not a fault).
async fn reshaped(response: HttpResponse) -> HttpResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(bytes) = actix_web::body::to_bytes_limited(response.into_body(), MAX_FAULT_BYTES).await else {
        return keystone_error(status, "The request could not be answered.");
    };
    let Ok(bytes) = bytes else {
        return keystone_error(status, "The request could not be answered.");
    };
    let fault: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut shaped = match fault.as_object() {
        Some(map) if map.contains_key("error") => HttpResponse::build(status).json(&fault),
        Some(map) => {
            let message = map.values().find_map(|detail| detail["message"].as_str());
            keystone_error(status, message.unwrap_or("The request could not be answered."))
        }
        None => keystone_error(status, "The request could not be answered."),
    };
    for (name, value) in headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}
