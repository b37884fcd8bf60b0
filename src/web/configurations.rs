//! `/configurations` (Trove's configuration groups): list, create (200 with the detailed
//! view), show, replace (PUT, 202) or merge (PATCH, 200) the values — re-applied to every
//! instance using the group by a configure flow each — delete (202; 422 while attached), and
//! the instances using a group. Groups are per project and free of quota.

use super::acting::Acting;
use super::input::Body;
use super::openapi::params::{Tenant, TenantInstance, TenantResource};
use super::openapi::schemas::configurations::{
    ConfigurationBody, ConfigurationCreateBody, ConfigurationInstanceList, ConfigurationList, ConfigurationMergeBody,
    ConfigurationReplaceBody, RunningConfigurationBody,
};
use super::validate::{bad, object, string_field};
use super::views::iso;
use super::{flow_casts::cast_flow, links, AppState, PageQuery};
use crate::db::models::configuration::Configuration;
use crate::error::ApiError;
use crate::intents::configurations::{self as intents, ConfigurationChange, ConfigurationRecord, NewConfiguration};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// How long a configure flow may take from when it is recorded: it may wait behind the
/// instance's other flows (a resize, a restart) before its own steps run.
pub fn deadline_ms(state: &AppState) -> i64 {
    let tm = &state.services.config.taskmanager;
    super::flow_casts::ms(tm.resize_timeout_s + tm.restart_timeout_s)
}

/// Trove's list view of a group.
fn summary(r: &ConfigurationRecord) -> Value {
    json!({
        "id": r.group.id, "name": r.group.name, "description": r.group.description,
        "created": iso(r.group.created), "updated": iso(r.group.updated),
        "datastore_version_id": r.version.id, "datastore_name": r.datastore.name,
        "datastore_version_name": r.version.name, "datastore_version_number": r.version.version,
    })
}

/// Trove's detailed view: the summary with the values and how many instances use the group.
fn detail(r: &ConfigurationRecord) -> Value {
    let mut v = summary(r);
    v["values"] = json!(r.values);
    v["instance_count"] = json!(r.instance_count);
    v
}

/// A name or description: a string of 1 to 255 characters with a letter or digit, printable.
fn text_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = string_field(obj, key)? else {
        return Ok(None);
    };
    let fits = (1..=255).contains(&text.chars().count())
        && text.chars().any(char::is_alphanumeric)
        && !text.chars().any(char::is_control);
    match fits {
        true => Ok(Some(text)),
        false => Err(bad(format!(
            "'{text}' is not a valid {key} (1 to 255 printable characters)"
        ))),
    }
}

fn values_field(obj: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match obj.get("values") {
        None => Ok(None),
        Some(Value::Object(values)) => Ok(Some(values.clone())),
        Some(other) => Err(bad(format!("{other} is not of type 'object' (values)"))),
    }
}

fn create_request(body: &Value) -> Result<NewConfiguration, ApiError> {
    let top = object(body, "request body")?;
    let group = object(
        top.get("configuration")
            .ok_or_else(|| bad("'configuration' is a required property"))?,
        "configuration",
    )?;
    let name = text_field(group, "name")?.ok_or_else(|| bad("'name' is a required property"))?;
    let values = values_field(group)?.ok_or_else(|| bad("'values' is a required property"))?;
    let (datastore, version) = match group.get("datastore").filter(|d| !d.is_null()) {
        Some(ds) => {
            let ds = object(ds, "datastore")?;
            (string_field(ds, "type")?, string_field(ds, "version")?)
        }
        None => (None, None),
    };
    Ok(NewConfiguration {
        name,
        description: text_field(group, "description")?,
        datastore,
        version,
        values,
    })
}

fn change_request(body: &Value, replace: bool) -> Result<ConfigurationChange, ApiError> {
    let top = object(body, "request body")?;
    let group = object(
        top.get("configuration")
            .ok_or_else(|| bad("'configuration' is a required property"))?,
        "configuration",
    )?;
    let values = values_field(group)?;
    if !replace && values.is_none() {
        return Err(bad("'values' is a required property"));
    }
    Ok(ConfigurationChange {
        name: text_field(group, "name")?,
        description: text_field(group, "description")?,
        values: values.unwrap_or_default(),
        replace,
    })
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/configurations",
    operation_id = "list_configurations",
    params(Tenant, PageQuery),
    responses((status = 200, description = "The project's groups, a page at a time.", body = ConfigurationList)),
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit(state.services.config.api.page_size)?;
    let (tenant, marker) = (acting.project(), query.marker.clone());
    let (records, more) = state
        .db
        .try_run(move |c| {
            let (groups, more) = Configuration::page(c, &tenant, limit, marker.as_deref())?;
            let records = groups
                .into_iter()
                .map(|g| ConfigurationRecord::load(c, g))
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok::<_, ApiError>((records, more))
        })
        .await?;
    let mut body = json!({"configurations": records.iter().map(summary).collect::<Vec<_>>()});
    if let (true, Some(last)) = (more, records.last()) {
        body["links"] = links::next_page(&req, limit, &last.group.id);
    }
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/configurations",
    operation_id = "create_configuration",
    params(Tenant),
    request_body = ConfigurationCreateBody,
    responses((status = 200, description = "The new group.", body = ConfigurationBody)),
)]
pub async fn create(state: web::Data<AppState>, body: Body, acting: Acting) -> Result<HttpResponse, ApiError> {
    let request = create_request(&body)?;
    let tenant = acting.project();
    let record = state
        .db
        .try_run(move |c| intents::create_configuration(c, &tenant, &request))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"configuration": detail(&record)})))
}

/// The group `id` of the acting project (404 for another project's or a deleted one).
async fn load(state: &AppState, tenant: String, id: &str) -> Result<ConfigurationRecord, ApiError> {
    let id = id.to_string();
    state
        .db
        .try_run(move |c| {
            let group = Configuration::find(c, Some(&tenant), &id)?
                .ok_or_else(|| ApiError::NotFound(format!("Configuration group with ID {id} could not be found.")))?;
            ConfigurationRecord::load(c, group)
        })
        .await
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/configurations/{id}",
    operation_id = "show_configuration",
    params(TenantResource),
    responses((status = 200, description = "The group, with its values.", body = ConfigurationBody)),
)]
pub async fn show(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let record = load(&state, acting.project(), &path.1).await?;
    Ok(HttpResponse::Ok().json(json!({"configuration": detail(&record)})))
}

/// PUT (replace) and PATCH (merge): the values checked and stored, then a configure flow for
/// every instance using the group.
async fn change(state: &AppState, tenant: String, id: &str, body: &Value, replace: bool) -> Result<(), ApiError> {
    let change = change_request(body, replace)?;
    let deadline = deadline_ms(state);
    let id = id.to_string();
    let flows = state
        .db
        .try_run(move |c| intents::change_configuration(c, &tenant, &id, &change, deadline))
        .await?;
    for flow in &flows {
        cast_flow(state, flow).await;
    }
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/configurations/{id}",
    operation_id = "replace_configuration",
    params(TenantResource),
    request_body = ConfigurationReplaceBody,
    responses((status = 202, description = "The values are replaced; the instances using the group follow.")),
)]
pub async fn replace(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    change(&state, acting.project(), &path.1, &body, true).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(
    patch,
    path = "/v1.0/{tenant_id}/configurations/{id}",
    operation_id = "merge_configuration",
    params(TenantResource),
    request_body = ConfigurationMergeBody,
    responses((status = 200, description = "The values are merged; the instances using the group follow.")),
)]
pub async fn merge(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    change(&state, acting.project(), &path.1, &body, false).await?;
    Ok(HttpResponse::Ok().finish())
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/configurations/{id}",
    operation_id = "delete_configuration",
    params(TenantResource),
    responses((status = 202, description = "The group is deleted.")),
)]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = (acting.project(), path.1.clone());
    state
        .db
        .try_run(move |c| intents::delete_configuration(c, &tenant, &id))
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/configurations/{id}/instances",
    operation_id = "list_configuration_instances",
    params(TenantResource, PageQuery),
    responses((
        status = 200, description = "The instances using the group, a page at a time.",
        body = ConfigurationInstanceList,
    )),
)]
pub async fn instances(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let record = load(&state, acting.project(), &path.1).await?;
    let limit = query.limit(state.services.config.api.page_size)?;
    let id = record.group.id.clone();
    let all = state.db.run(move |c| Configuration::instances(c, &id)).await?;
    let start = match &query.marker {
        Some(marker) => all.iter().position(|(id, _)| id == marker).map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&(String, String)> = all.iter().skip(start).take(limit as usize).collect();
    let mut body =
        json!({"instances": page.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>()});
    if let (true, Some((last, _))) = (start + page.len() < all.len(), page.last()) {
        body["links"] = links::next_page(&req, limit, last);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /instances/{id}/configuration`: the values the server runs with, of every parameter its
/// version's catalog offers (read from the server, so they can be pasted into a group).
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/instances/{id}/configuration",
    operation_id = "show_instance_configuration",
    params(TenantInstance),
    responses((
        status = 200, description = "The values the instance's server runs with.",
        body = RunningConfigurationBody,
    )),
)]
pub async fn instance_values(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    use super::guest_calls::{self, Timeout};
    let id = path.1.clone();
    let record = guest_calls::ready_for_guest(&state, acting.project(), id.clone()).await?;
    let version = record.version.id.clone();
    let names: Vec<String> = state
        .db
        .run(move |c| crate::db::models::configuration::CatalogRow::for_version(c, &version))
        .await?
        .into_iter()
        .map(|row| row.name)
        .collect();
    let args = crate::guest::messages::encode(&crate::guest::messages::GetConfiguration { names });
    let shown = guest_calls::call(&state, &id, "get_configuration", args, Timeout::Low).await?;
    Ok(HttpResponse::Ok().json(json!({"instance": {"configuration": shown}})))
}

/// `configuration` (Trove's schema also names it `configuration_id`): a group's id or href.
/// `None`: not given; `Some(None)`: given empty or null (a detach, in an update).
pub fn configuration_field(obj: &Map<String, Value>) -> Result<Option<Option<String>>, ApiError> {
    let key = ["configuration", "configuration_id"]
        .into_iter()
        .find(|k| obj.contains_key(*k));
    let Some(key) = key else { return Ok(None) };
    match &obj[key] {
        Value::Null => Ok(Some(None)),
        Value::String(s) if s.trim().is_empty() => Ok(Some(None)),
        Value::String(s) => Ok(Some(Some(
            s.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        ))),
        other => Err(bad(format!("{other} is not of type 'string' ({key})"))),
    }
}
