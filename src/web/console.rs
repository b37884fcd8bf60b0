//! `/console`: the operators' web console — one page, its script and its style, compiled into
//! the binary (no build step, nothing fetched from elsewhere). The page logs in at `/v3` with
//! an admin's user name and password, keeps the token in memory, and reads the `/mgmt` routes
//! and the event stream like any API client; it gets no access of its own.

use actix_web::http::header;
use actix_web::HttpResponse;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// Only this origin's own script, style and API; never framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[utoipa::path(
    get,
    path = "/console",
    responses((status = 200, description = "The operator console's page.", body = String, content_type = "text/html")),
)]
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

#[utoipa::path(
    get,
    path = "/console/console.js",
    responses((status = 200, description = "The console's script.", body = String, content_type = "text/javascript")),
)]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[utoipa::path(
    get,
    path = "/console/console.css",
    responses((status = 200, description = "The console's style sheet.", body = String, content_type = "text/css")),
)]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
