//! Trove's `X-Openstack-Request-Id`: every API request gets a fresh `req-<uuid>`, runs in a
//! `request` span and request scope carrying it (see [`crate::telemetry::request`]), and is
//! answered with it in that header, errors included.

use crate::telemetry::request;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const HEADER: &str = "x-openstack-request-id";

pub async fn tag(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request::new_id();
    let span = tracing::info_span!("request", request_id = %id, http.method = %req.method(), http.path = %req.path());
    let answered = request::scope(Some(id.clone()), next.call(req).instrument(span)).await;
    let value = HeaderValue::from_str(&id).ok();
    let name = HeaderName::from_static(HEADER);
    match answered {
        Ok(mut response) => {
            if let Some(value) = value {
                response.headers_mut().insert(name, value);
            }
            Ok(response.map_into_boxed_body())
        }
        // An error a middleware returned instead of answering: its answer, with the id.
        Err(e) => {
            let mut response = e.error_response();
            if let Some(value) = value {
                response.headers_mut().insert(name, value);
            }
            Err(InternalError::from_response(e.to_string(), response).into())
        }
    }
}
