//! What the API refuses before any handler looks at a request: control characters in the
//! decoded path or query (they would reach names and database queries), URIs longer than
//! Trove's web server takes, and — through [`Body`] — JSON bodies with a NUL anywhere (no
//! database or datastore stores one). Names must also be free of control characters
//! ([`check_printable`]).

use crate::error::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use serde_json::Value;

/// The longest request URI (path and query) accepted; eventlet, under Trove, takes 8 KiB.
pub const MAX_URI_BYTES: usize = 8192;

/// Whether `text` holds a control character (C0, DEL or C1).
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A name a client chose (instance, backup, configuration): no control characters.
pub fn check_printable(what: &str, text: &str) -> Result<(), ApiError> {
    match has_control(text) {
        true => Err(ApiError::BadRequest(format!(
            "The {what} must not contain control characters."
        ))),
        false => Ok(()),
    }
}

fn decoded_has_control(raw: &str) -> bool {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    bytes.iter().any(|b| *b < 0x20 || *b == 0x7f) || String::from_utf8(bytes).is_ok_and(|s| has_control(&s))
}

/// The app-wide check of the request line: URI length, control characters once decoded.
pub async fn check_request_line(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let uri = req.uri();
    let length = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if length > MAX_URI_BYTES {
        return Err(ApiError::Protocol {
            status: 414,
            message: format!("The request URI is longer than {MAX_URI_BYTES} bytes."),
        }
        .into());
    }
    if decoded_has_control(uri.path()) || uri.query().is_some_and(decoded_has_control) {
        return Err(ApiError::BadRequest("The request path or query contains control characters.".into()).into());
    }
    next.call(req).await
}

/// Whether a NUL appears in any string (or key) of `value`.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A JSON request body (at most [`super::MAX_BODY_BYTES`]) in which no string holds a NUL.
pub struct Body(pub Value);

impl std::ops::Deref for Body {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl FromRequest for Body {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Body, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            if holds_nul(&value) {
                return Err(ApiError::BadRequest("The request body must not contain NUL characters.".into()).into());
            }
            Ok(Body(value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_characters_however_encoded() {
        assert!(decoded_has_control("/v1.0/t/instances/%00"));
        assert!(decoded_has_control("/v1.0/t/instances/a%0Ab"));
        assert!(decoded_has_control("marker=%7f"));
        assert!(decoded_has_control("name=%C2%85"), "C1 NEL");
        assert!(!decoded_has_control("/v1.0/t/instances/%41bc"));
        assert!(!decoded_has_control("/v1.0/t/users/%C3%A9"));
        assert!(holds_nul(&serde_json::json!({"a": [{"b": "x\u{0}"}]})));
        assert!(!holds_nul(&serde_json::json!({"a": "é"})));
        assert!(check_printable("name", "a\tb").is_err());
    }
}
