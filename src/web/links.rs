//! Trove's `links` (self + bookmark) and `next` pagination links, built from the request's
//! own scheme and host so they work behind any address.

use actix_web::HttpRequest;
use serde_json::{json, Value};

/// `scheme://host` of the request.
pub fn base(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// `[{"href": …/v1.0/{t}/{res}/{id}, "rel": "self"}, {"href": …/{res}/{id}, "rel": "bookmark"}]`
pub fn resource(base: &str, tenant: &str, collection: &str, id: &str) -> Value {
    json!([
        {"href": format!("{base}/v1.0/{tenant}/{collection}/{id}"), "rel": "self"},
        {"href": format!("{base}/{collection}/{id}"), "rel": "bookmark"},
    ])
}

/// The `next` link of a page whose last item is `marker`, keeping the request's `limit`.
pub fn next_page(req: &HttpRequest, limit: i64, marker: &str) -> Value {
    let href = format!("{}{}?limit={limit}&marker={marker}", base(req), req.path());
    json!([{"rel": "next", "href": href}])
}
