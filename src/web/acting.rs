//! Which project a request acts on. Normally the URL's (`/v1.0/{tenant_id}/…`). An admin acts
//! on any project's instance or backup through its own project's URL, as Trove's admin context
//! does: for an admin, the project of `/instances/{id}…` or `/backups/{id}` is the resource's own
//! (so quota, listing and ownership checks apply to the owner). Anyone else — a noauth caller
//! too, who is an admin of the URL's project only — keeps the URL's project, and another
//! project's resource stays "not found".

use super::auth;
use super::AppState;
use crate::db::models::backup::Backup;
use crate::db::models::instance::Instance;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;

/// The project the request acts on.
pub struct Acting(pub String);

impl Acting {
    pub fn project(self) -> String {
        self.0
    }
}

/// The resource an admin's request names, if any.
enum Named {
    Instance(String),
    Backup(String),
}

fn named(req: &HttpRequest) -> Option<Named> {
    let pattern = req.match_pattern()?;
    let id = req.match_info().get("id")?.to_string();
    if pattern.contains("/instances/{id}") {
        Some(Named::Instance(id))
    } else if pattern.contains("/backups/{id}") {
        Some(Named::Backup(id))
    } else {
        None
    }
}

impl FromRequest for Acting {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Acting, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let url_project = req.match_info().get("tenant_id").unwrap_or_default().to_string();
        let target = auth::acts_across_projects(req).then(|| named(req)).flatten();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(target), Some(state)) = (target, state) else {
                return Ok(Acting(url_project));
            };
            let owner = state
                .db
                .run(move |c| match target {
                    Named::Instance(id) => Ok(Instance::find(c, &id)?.map(|i| i.tenant_id)),
                    Named::Backup(id) => Ok(Backup::find(c, &id)?.map(|b| b.tenant_id)),
                })
                .await
                .map_err(ApiError::from)?;
            // An unknown id keeps the URL's project: the handler answers 404 as for anyone.
            Ok(Acting(owner.unwrap_or(url_project)))
        })
    }
}
