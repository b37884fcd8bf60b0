//! The Keystone v3 subset clients need (client-compat.md §1): `GET /v3` and
//! `POST /v3/auth/tokens` with the password or token method, answering 201 with
//! `X-Subject-Token` and a token whose catalog names this API for the token's project.
//! Errors use Keystone's `{"error": {...}}` shape; repeated failures are braked (429).

use super::{links, AppState};
use crate::error::ApiError;
use crate::identity::{self, AuthError, Principal, DEFAULT_DOMAIN};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct TokenRequest {
    auth: Auth,
}
#[derive(Deserialize)]
struct Auth {
    identity: Identity,
    #[serde(default)]
    scope: Option<Scope>,
}
#[derive(Deserialize)]
struct Identity {
    methods: Vec<String>,
    #[serde(default)]
    password: Option<PasswordMethod>,
    #[serde(default)]
    token: Option<TokenMethod>,
}
#[derive(Deserialize)]
struct PasswordMethod {
    user: NamedUser,
}
#[derive(Deserialize)]
struct NamedUser {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    domain: Option<Domain>,
    password: String,
}
#[derive(Deserialize)]
struct TokenMethod {
    id: String,
}
#[derive(Deserialize)]
struct Scope {
    project: Option<ProjectRef>,
}
#[derive(Deserialize)]
struct ProjectRef {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    domain: Option<Domain>,
}
#[derive(Deserialize)]
struct Domain {
    id: Option<String>,
    name: Option<String>,
}

/// The domain a reference names: coffer has one, `default` (name `Default`).
fn domain_of(domain: &Option<Domain>) -> Option<&'static str> {
    match domain {
        None => Some(DEFAULT_DOMAIN),
        Some(d) => {
            let by_id = d.id.as_deref().is_none_or(|id| id == DEFAULT_DOMAIN);
            let by_name = d.name.as_deref().is_none_or(|n| n.eq_ignore_ascii_case("default"));
            (by_id && by_name).then_some(DEFAULT_DOMAIN)
        }
    }
}

fn keystone_error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": status.as_u16(), "title": title, "message": message}}))
}

fn unauthorized() -> HttpResponse {
    keystone_error(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The request you have made requires authentication.",
    )
}

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

fn token_body(req: &HttpRequest, p: &Principal, method: &str, region: &str) -> Value {
    let base = links::base(req);
    let database = format!("{base}/v1.0/{}", p.project.id);
    let endpoint = |id: &str, interface: &str, url: &str| json!({"id": id, "interface": interface, "region": region, "region_id": region, "url": url});
    let domain = json!({"id": DEFAULT_DOMAIN, "name": "Default"});
    json!({"token": {
        "methods": [method],
        "user": {"id": p.user.id, "name": p.user.name, "domain": domain, "password_expires_at": null},
        "audit_ids": [uuid::Uuid::new_v4().simple().to_string()],
        "expires_at": iso(p.expires_at),
        "issued_at": iso(p.issued_at),
        "project": {"id": p.project.id, "name": p.project.name, "domain": domain},
        "is_domain": false,
        "roles": p.roles.iter().map(|r| json!({"id": r, "name": r})).collect::<Vec<_>>(),
        "catalog": [
            {"type": "database", "name": "trove", "id": "coffer-database", "endpoints": [
                endpoint("database-public", "public", &database),
                endpoint("database-internal", "internal", &database),
                endpoint("database-admin", "admin", &database)]},
            {"type": "identity", "name": "keystone", "id": "coffer-identity", "endpoints": [
                endpoint("identity-public", "public", &format!("{base}/v3")),
                endpoint("identity-internal", "internal", &format!("{base}/v3")),
                endpoint("identity-admin", "admin", &format!("{base}/v3"))]},
        ],
    }})
}

pub async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Ok(parsed) = serde_json::from_slice::<TokenRequest>(&body) else {
        return Ok(keystone_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Expecting an auth request body.",
        ));
    };
    let auth = parsed.auth;
    let project = auth.scope.and_then(|s| s.project);
    let scope = match &project {
        Some(p) => match domain_of(&p.domain) {
            Some(d) => (p.id.clone(), p.name.clone(), d),
            None => return Ok(unauthorized()),
        },
        // coffer issues project-scoped tokens only; an unscoped request is refused below.
        None => (None, None, DEFAULT_DOMAIN),
    };
    let ttl = crate::config::secs(state.services.config.auth.token_ttl_s);
    let brake = state.services.login_brake.clone();
    let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let method = auth.identity.methods.first().cloned().unwrap_or_default();
    let (key, login): (
        String,
        Box<dyn FnOnce(&mut crate::db::DbConn) -> Result<(String, Principal), AuthError> + Send>,
    ) = match (method.as_str(), auth.identity.password, auth.identity.token) {
        ("password", Some(pw), _) => {
            let Some(domain) = domain_of(&pw.user.domain) else {
                return Ok(unauthorized());
            };
            let key = format!(
                "user:{}",
                pw.user.name.clone().or(pw.user.id.clone()).unwrap_or_default()
            );
            let user = pw.user;
            (
                key,
                Box::new(move |c| {
                    let scope = (scope.0.as_deref(), scope.1.as_deref(), scope.2);
                    identity::login_with_password(
                        c,
                        (user.id.as_deref(), user.name.as_deref(), domain),
                        &user.password,
                        scope,
                        ttl,
                    )
                }),
            )
        }
        ("token", _, Some(token)) => (
            format!("addr:{peer}"),
            Box::new(move |c| {
                let scope = (scope.0.as_deref(), scope.1.as_deref(), scope.2);
                identity::login_with_token(c, &token.id, scope, ttl)
            }),
        ),
        _ => {
            return Ok(keystone_error(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "Unsupported authentication method.",
            ))
        }
    };
    let addr_key = format!("addr:{peer}");
    if !brake.allows(&key) || !brake.allows_many(&addr_key) {
        return Ok(keystone_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "Too many failed logins; try again later.",
        ));
    }
    match state.services.db.run(move |c| Ok(login(c))).await? {
        Ok((token, principal)) => {
            brake.succeeded(&key);
            let region = state.services.config.auth.region.clone();
            Ok(HttpResponse::Created()
                .insert_header(("X-Subject-Token", token))
                .json(token_body(&req, &principal, &method, &region)))
        }
        Err(AuthError::Denied) => {
            brake.failed(&key);
            brake.failed(&addr_key);
            Ok(unauthorized())
        }
        Err(AuthError::Db(e)) => Err(e.into()),
    }
}
