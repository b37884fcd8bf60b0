//! The Keystone v3 subset clients need (client-compat.md §1): `GET /v3`, and on
//! `/v3/auth/tokens` — `POST` (password or token method; 201 with `X-Subject-Token` and a token
//! whose catalog names this API for the token's project), `GET`/`HEAD` (validate the
//! `X-Subject-Token`) and `DELETE` (revoke it). The handlers refuse with [`ApiError`] like every
//! other; [`fault_shape`] gives every answer under `/v3` Keystone's `{"error": {...}}` shape. A
//! body over 64 KiB or an identity field over 255 characters is refused before any work.

pub mod fault_shape;
mod login;
mod request;

use super::openapi::schemas::identity::{IdentityVersionBody, KeystoneError, TokenBody};
use super::routing::endpoint;
use super::{links, AppState};
use crate::error::ApiError;
use crate::identity::{self, Principal, DEFAULT_DOMAIN, MAX_FIELD_LEN};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use futures::StreamExt;
use request::{domain_of, TokenRequest};
use serde::Deserialize;
use serde_json::{json, Value};

/// The largest body `POST /v3/auth/tokens` reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers `/v3`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(endpoint("/v3").get(show_version).done())
        .service(endpoint("/v3/").get(show_version).done())
        .service(
            endpoint("/v3/auth/tokens")
                .post(issue_token)
                .get(validate_token)
                .delete(revoke_token)
                .done(),
        );
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("The request you have made requires authentication.".into())
}

fn token_not_found() -> ApiError {
    ApiError::NotFound("Could not find the token.".into())
}

#[utoipa::path(
    get,
    path = "/v3",
    operation_id = "show_identity_version",
    responses((status = 200, description = "Keystone's v3 version document.", body = IdentityVersionBody)),
)]
pub async fn show_version(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(json!({"version": {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", links::base(&req))}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }}))
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn token_body(req: &HttpRequest, p: &Principal, method: &str, region: &str, with_catalog: bool) -> Value {
    let base = links::base(req);
    let database = format!("{base}/v1.0/{}", p.project.id);
    let endpoint = |id: &str, interface: &str, url: &str| json!({"id": id, "interface": interface, "region": region, "region_id": region, "url": url});
    let domain = json!({"id": DEFAULT_DOMAIN, "name": "Default"});
    let mut token = json!({
        "methods": [method],
        "user": {"id": p.user.id, "name": p.user.name, "domain": domain, "password_expires_at": null},
        "audit_ids": [uuid::Uuid::new_v4().simple().to_string()],
        "expires_at": iso(p.expires_at),
        "issued_at": iso(p.issued_at),
        "project": {"id": p.project.id, "name": p.project.name, "domain": domain},
        "is_domain": false,
        "roles": p.roles.iter().map(|r| json!({"id": r, "name": r})).collect::<Vec<_>>(),
    });
    if with_catalog {
        token["catalog"] = json!([
            {"type": "database", "name": "trove", "id": "coffer-database", "endpoints": [
                endpoint("database-public", "public", &database),
                endpoint("database-internal", "internal", &database),
                endpoint("database-admin", "admin", &database)]},
            {"type": "compute", "name": "nova", "id": "coffer-compute", "endpoints": [
                endpoint("compute-public", "public", &format!("{base}/compute/v2.1")),
                endpoint("compute-internal", "internal", &format!("{base}/compute/v2.1")),
                endpoint("compute-admin", "admin", &format!("{base}/compute/v2.1"))]},
            {"type": "identity", "name": "keystone", "id": "coffer-identity", "endpoints": [
                endpoint("identity-public", "public", &format!("{base}/v3")),
                endpoint("identity-internal", "internal", &format!("{base}/v3")),
                endpoint("identity-admin", "admin", &format!("{base}/v3"))]},
        ]);
    }
    json!({ "token": token })
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body is Keystone's 413.
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Cannot read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::Protocol {
                status: StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
                message: format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `POST /v3/auth/tokens`.
#[utoipa::path(
    post,
    path = "/v3/auth/tokens",
    request_body = TokenRequest,
    responses(
        (
            status = 201,
            description = "A token: the X-Subject-Token header, and its body.",
            body = TokenBody,
            headers(("X-Subject-Token" = String, description = "The token.")),
        ),
        (status = 401, description = "The credentials are not valid.", body = KeystoneError),
    ),
)]
pub async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let parsed = serde_json::from_slice::<TokenRequest>(&body)
        .map_err(|_| ApiError::BadRequest("Expecting an auth request body.".into()))?;
    if let Some(field) = parsed.overlong_field() {
        return Err(ApiError::BadRequest(format!(
            "Invalid input for field '{field}': it is longer than Keystone allows."
        )));
    }
    let auth = parsed.auth;
    let project = auth.scope.and_then(|s| s.project);
    let scope = match &project {
        Some(p) => match domain_of(&p.domain) {
            Some(d) => login::ScopeRef {
                id: p.id.clone(),
                name: p.name.clone(),
                domain: d,
            },
            None => return Err(unauthorized()),
        },
        // coffer issues project-scoped tokens only; an unscoped request is refused later.
        None => login::ScopeRef {
            id: None,
            name: None,
            domain: DEFAULT_DOMAIN,
        },
    };
    let method = auth.identity.methods.first().cloned().unwrap_or_default();
    let attempt = login::Attempt::new(&state, &req);
    let outcome = match (method.as_str(), auth.identity.password, auth.identity.token) {
        ("password", Some(pw), _) => {
            let domain = domain_of(&pw.user.domain).ok_or_else(unauthorized)?;
            let user = login::UserRef {
                id: pw.user.id,
                name: pw.user.name,
                domain,
            };
            attempt.with_password(user, pw.user.password, scope).await
        }
        ("token", _, Some(token)) => attempt.with_token(token.id, scope).await,
        _ => return Err(ApiError::BadRequest("Unsupported authentication method.".into())),
    };
    let (token, principal) = outcome?.ok_or_else(unauthorized)?;
    let region = &state.services.config.auth.region;
    Ok(HttpResponse::Created()
        .insert_header(("X-Subject-Token", token))
        .json(token_body(&req, &principal, &method, region, true)))
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_FIELD_LEN)
        .map(str::to_string)
}

/// The principals of `X-Auth-Token` (the caller) and `X-Subject-Token`, if the caller may see
/// the subject (an admin, or the subject's own user).
async fn caller_and_subject(state: &AppState, req: &HttpRequest) -> Result<(String, Principal), ApiError> {
    let caller = header(req, "X-Auth-Token").ok_or_else(unauthorized)?;
    let subject = header(req, "X-Subject-Token")
        .ok_or_else(|| ApiError::NotFound("Could not find token: no X-Subject-Token given.".into()))?;
    let (c, s) = (caller.clone(), subject.clone());
    let found = state
        .db
        .run(move |conn| Ok((identity::resolve(conn, &c)?, identity::resolve(conn, &s)?)))
        .await?;
    let caller = found.0.ok_or_else(unauthorized)?;
    let subject_principal = found.1.ok_or_else(token_not_found)?;
    if !caller.is_admin() && caller.user.id != subject_principal.user.id {
        // Another user's token: as if it did not exist.
        return Err(token_not_found());
    }
    Ok((subject, subject_principal))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidateQuery {
    /// Present: the body without the catalog.
    nocatalog: Option<String>,
}

/// The token a validation or revocation is about.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct SubjectToken {
    /// The token to validate or revoke (the caller's own, or any for an admin).
    #[param(rename = "X-Subject-Token")]
    subject: String,
}

/// `GET`/`HEAD /v3/auth/tokens`: the subject token's body, if it is valid.
#[utoipa::path(
    get,
    path = "/v3/auth/tokens",
    operation_id = "validate_token",
    params(SubjectToken, ValidateQuery),
    responses((status = 200, description = "The subject token is valid: its body.", body = TokenBody)),
)]
pub async fn validate_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ValidateQuery>,
) -> Result<HttpResponse, ApiError> {
    let (token, principal) = caller_and_subject(&state, &req).await?;
    let region = &state.services.config.auth.region;
    let body = token_body(&req, &principal, "password", region, query.nocatalog.is_none());
    Ok(HttpResponse::Ok().insert_header(("X-Subject-Token", token)).json(body))
}

/// `DELETE /v3/auth/tokens`: revokes the subject token (204).
#[utoipa::path(
    delete,
    path = "/v3/auth/tokens",
    params(SubjectToken),
    responses((status = 204, description = "The subject token is revoked.")),
)]
pub async fn revoke_token(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (token, _) = caller_and_subject(&state, &req).await?;
    let revoked = state.db.run(move |c| identity::revoke(c, &token)).await;
    if revoked.is_ok() {
        // Out of this process's memory now, out of every other API process's once settled
        // (also when another revocation of it won the race: that one may still be settling).
        state.caches.forget_tokens();
        let settle = super::caches::ReadCaches::settle_time(&state.services.config, &state.db);
        if !settle.is_zero() {
            tokio::time::sleep(settle).await;
        }
    }
    match revoked? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(token_not_found()),
    }
}
