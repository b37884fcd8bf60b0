//! `GET /`: the API versions (Trove's `trove/versions.py`).

use super::links;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

#[utoipa::path(
    get,
    path = "/",
    responses((status = 200, description = "The API versions.", body = crate::web::openapi::schemas::operations::ApiVersionList)),
)]
pub async fn list_versions(req: HttpRequest) -> HttpResponse {
    let href = format!("{}/v1.0/", links::base(&req));
    HttpResponse::Ok().json(json!({"versions": [{
        "id": "v1.0",
        "status": "CURRENT",
        "updated": "2012-08-01T00:00:00Z",
        "links": [{"rel": "self", "href": href}],
    }]}))
}
