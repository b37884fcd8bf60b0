//! How routes are declared: one [`Endpoint`] per path with the methods it answers. A request
//! with another method gets 405 with an `Allow` header (and Trove's fault body) instead of
//! falling through to "not found"; `GET` endpoints answer `HEAD` too.

use crate::error::ApiError;
use actix_web::dev::Handler;
use actix_web::http::header;
use actix_web::{guard, web, FromRequest, HttpResponse, Resource, Responder};

/// One path and the methods it answers.
pub struct Endpoint {
    resource: Resource,
    allow: Vec<&'static str>,
}

/// Starts the endpoint of `path`.
pub fn endpoint(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        allow: Vec::new(),
    }
}

impl Endpoint {
    fn on<F, Args>(mut self, methods: &[&'static str], route: actix_web::Route, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend_from_slice(methods);
        self.resource = self.resource.route(route.to(handler));
        self
    }

    /// `GET` (and `HEAD`, answered without a body).
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
        self.on(&["GET", "HEAD"], route, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(&["POST"], web::post(), handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(&["PUT"], web::put(), handler)
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(&["PATCH"], web::patch(), handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(&["DELETE"], web::delete(), handler)
    }

    /// The finished resource: other methods answer 405 with `Allow`.
    pub fn done(self) -> Resource {
        let allow = self.allow.join(", ");
        self.resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(&allow) }
        }))
    }
}

/// 405 in Trove's fault shape, naming the methods the path answers.
fn method_not_allowed(allow: &str) -> HttpResponse {
    let error = ApiError::MethodNotAllowed(format!(
        "The method is not allowed for this resource; allowed: {allow}."
    ));
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = header::HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
