//! `/mgmt`: what operators read — live actors with their restart counts, the supervision log,
//! and the flows of an instance.

use super::{AppState, PageQuery};
use crate::db::models::flow::Flow;
use crate::db::schema::flows;
use crate::error::ApiError;
use crate::flows::step_name;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub struct ActorQuery {
    pub kind: Option<String>,
}

pub async fn list_actors(state: web::Data<AppState>, query: web::Query<ActorQuery>) -> HttpResponse {
    let actors = state.services.supervision.actors(query.kind.as_deref());
    HttpResponse::Ok().json(json!({ "actors": actors }))
}

pub async fn list_supervision_events(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit(100)?;
    let marker = match &query.marker {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("marker must be an event id, not {m:?}")))?,
        ),
    };
    let (events, more) = state.services.supervision.events(limit as usize, marker);
    let mut body = json!({ "events": events });
    if let (true, Some(last)) = (more, events.last()) {
        body["links"] = json!([{"rel": "next", "href": format!("?limit={limit}&marker={}", last.id)}]);
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub instance_id: String,
}

pub async fn list_flows(state: web::Data<AppState>, query: web::Query<FlowQuery>) -> Result<HttpResponse, ApiError> {
    let target = query.instance_id.clone();
    let rows: Vec<Flow> = state
        .db
        .run(move |c| {
            Ok(flows::table
                .filter(flows::target_id.eq(&target))
                .order(flows::created.asc())
                .select(Flow::as_select())
                .load(c)?)
        })
        .await?;
    let list: Vec<_> = rows
        .iter()
        .map(|f| {
            json!({
                "id": f.id, "kind": f.kind, "step": f.step, "step_name": step_name(&f.kind, f.step),
                "status": f.status, "owner": f.owner, "attempts": f.attempts, "last_error": f.last_error,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "flows": list })))
}
