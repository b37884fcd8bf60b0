//! Authentication and authorization of every `/v1.0/{tenant_id}` request, in one middleware:
//! a valid `X-Auth-Token` (401 otherwise) whose project is the URL's tenant (403 otherwise);
//! readers may only read. `/mgmt` is a scope of its own behind [`require_admin`], so the admin
//! check applies to the route the router matched, whatever the path's spelling.
//! In `noauth` mode (local development) every request acts as an admin of the URL's tenant.

use super::AppState;
use crate::error::ApiError;
use crate::identity::{self, Principal};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::sync::Arc;

/// Who is calling; put in the request's extensions for handlers that need it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub project_id: crate::ids::ProjectId,
    pub admin: bool,
    /// None in noauth mode.
    pub principal: Option<Arc<Principal>>,
}

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let tenant = req.match_info().get("tenant_id").unwrap_or_default().to_string();
    let caller = if state.services.config.auth.mode == crate::config::AuthMode::Noauth {
        Caller {
            project_id: tenant.as_str().into(),
            admin: true,
            principal: None,
        }
    } else {
        let principal = principal_of(&state, req.headers()).await?;
        if principal.project.id != tenant {
            return Err(ApiError::Forbidden(format!(
                "User does not have admin privileges or the tenant {tenant} in the URL is not the token's project."
            ))
            .into());
        }
        Caller {
            project_id: tenant.as_str().into(),
            admin: principal.is_admin(),
            principal: Some(principal),
        }
    };
    authorize(&req, &caller)?;
    req.extensions_mut().insert(caller);
    next.call(req).await
}

/// Who the request's `X-Auth-Token` names; 401 without one or with one unknown, revoked or
/// expired. A token validated before is answered from memory ([`super::caches`]).
pub async fn principal_of(
    state: &AppState,
    headers: &actix_web::http::header::HeaderMap,
) -> Result<Arc<Principal>, ApiError> {
    let token = headers
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unauthorized("The request you have made requires authentication.".into()))?;
    let key = super::caches::TokenKey::of(&token);
    if let Some(known) = state.caches.principal(&key) {
        return Ok(known);
    }
    let ticket = state.caches.ticket();
    let principal = state
        .db
        .run(move |c| identity::resolve(c, &token))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::Unauthorized("The token is unknown or has expired.".into()))?;
    let principal = Arc::new(principal);
    state.caches.remember_principal(ticket, key, principal.clone());
    Ok(principal)
}

/// Role rules: readers only read (`GET`, `HEAD`).
fn authorize(req: &ServiceRequest, caller: &Caller) -> Result<(), ApiError> {
    let method = req.method();
    let writes = method != actix_web::http::Method::GET && method != actix_web::http::Method::HEAD;
    let can_write = caller.principal.as_ref().is_none_or(|p| p.can_write());
    if writes && !can_write {
        return Err(ApiError::Forbidden("The reader role cannot change anything.".into()));
    }
    Ok(())
}

/// The `/mgmt` scope's guard: only admins get past it (403 otherwise).
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !is_admin_caller(&req.extensions()) {
        return Err(ApiError::Forbidden("This operation is allowed for admins only.".into()).into());
    }
    next.call(req).await
}

/// Whether the request's extensions name an admin caller.
pub fn is_admin_caller(extensions: &actix_web::dev::Extensions) -> bool {
    extensions.get::<Caller>().is_some_and(|c| c.admin)
}

/// The caller [`authenticate`] put in the request.
pub fn caller(req: &actix_web::HttpRequest) -> Result<Caller, ApiError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("request without a caller".into()))
}

/// Whether the caller of `req` holds the admin role through a token: it acts on any project's
/// resources through its own project's URL. A noauth caller (an admin of the URL's project
/// only) does not: projects stay apart in local development too.
pub fn acts_across_projects(req: &actix_web::HttpRequest) -> bool {
    req.extensions()
        .get::<Caller>()
        .is_some_and(|c| c.admin && c.principal.is_some())
}

/// Whether the caller of `req` is an admin (noauth callers are).
pub fn is_admin(req: &actix_web::HttpRequest) -> bool {
    is_admin_caller(&req.extensions())
}
