//! The configuration parameters of a datastore version (Trove's `/parameters` routes): read by
//! anyone by datastore and version (id or name) or by version id, and managed by admins under
//! `/mgmt/datastores/versions/{id}/parameters`. What coffer keeps for itself is never offered
//! and never accepted.

use super::input::Body;
use super::openapi::params::{Tenant, TenantVersion, VersionParameter};
use super::openapi::schemas::configurations::{
    ConfigurationParameter, ConfigurationParameterList, MgmtConfigurationParameter, MgmtConfigurationParameterList,
    MgmtParameterCreateBody, MgmtParameterUpdateBody,
};
use super::validate::{bad, object, string_field};
use super::AppState;
use crate::db::models::catalog::{Datastore, DatastoreVersion};
use crate::db::models::configuration::CatalogRow;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::manager::Manager;
use crate::parameters::{self, ParamType, Parameter};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

/// Trove's parameter view (the admin's names its bounds `min_size` and `max_size`).
fn view(row: &CatalogRow, admin: bool) -> Value {
    let p = row.parameter();
    let (min_key, max_key) = if admin {
        ("min_size", "max_size")
    } else {
        ("min", "max")
    };
    let mut v = json!({
        "name": p.name, "datastore_version_id": row.datastore_version_id,
        "restart_required": p.restart_required, "type": p.data_type.name(),
    });
    if let Some(min) = p.min {
        v[min_key] = json!(min);
    }
    if let Some(max) = p.max {
        v[max_key] = json!(max);
    }
    v
}

fn version_not_found(v: &str) -> ApiError {
    ApiError::NotFound(format!("Datastore version '{v}' cannot be found."))
}

/// The version `v` (id or name) of datastore `ds` (id or name), or the version with id `v`.
fn version_of(conn: &mut DbConn, ds: Option<&str>, v: &str) -> Result<DatastoreVersion, ApiError> {
    match ds {
        Some(ds) => {
            let found = Datastore::find_by_id_or_name(conn, ds)?
                .ok_or_else(|| ApiError::NotFound(format!("Datastore '{ds}' cannot be found.")))?;
            DatastoreVersion::find_in(conn, &found.id, v)?.ok_or_else(|| version_not_found(v))
        }
        None => DatastoreVersion::find(conn, v)?.ok_or_else(|| version_not_found(v)),
    }
}

fn not_a_parameter(name: &str) -> ApiError {
    ApiError::NotFound(format!("No configuration parameter found by name {name}."))
}

async fn list_of(state: &AppState, ds: Option<String>, v: String, admin: bool) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .try_run(move |c| {
            let version = version_of(c, ds.as_deref(), &v)?;
            Ok::<_, ApiError>(CatalogRow::for_version(c, &version.id)?)
        })
        .await?;
    let list: Vec<Value> = rows.iter().map(|r| view(r, admin)).collect();
    Ok(HttpResponse::Ok().json(json!({"configuration-parameters": list})))
}

async fn one_of(
    state: &AppState,
    ds: Option<String>,
    v: String,
    name: String,
    admin: bool,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .db
        .try_run(move |c| {
            let version = version_of(c, ds.as_deref(), &v)?;
            CatalogRow::find_any(c, &version.id, &name)?
                .filter(|r| !r.deleted)
                .ok_or_else(|| not_a_parameter(&name))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view(&row, admin)))
}

/// `GET /datastores/{ds}/versions/{v}/parameters`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/{ds}/versions/{version}/parameters",
    operation_id = "list_parameters",
    params(
        Tenant,
        ("ds" = String, Path, description = "The datastore's id or name."),
        ("version" = String, Path, description = "The version's id or name."),
    ),
    responses((status = 200, description = "The version's parameters.", body = ConfigurationParameterList)),
)]
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, ds, v) = path.into_inner();
    list_of(&state, Some(ds), v, false).await
}

/// `GET /datastores/{ds}/versions/{v}/parameters/{name}`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/{ds}/versions/{version}/parameters/{name}",
    operation_id = "show_parameter",
    params(
        Tenant,
        ("ds" = String, Path, description = "The datastore's id or name."),
        ("version" = String, Path, description = "The version's id or name."),
        ("name" = String, Path, description = "The parameter's name."),
    ),
    responses((status = 200, description = "The parameter.", body = ConfigurationParameter)),
)]
pub async fn show(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, ds, v, name) = path.into_inner();
    one_of(&state, Some(ds), v, name, false).await
}

/// `GET /datastores/versions/{id}/parameters`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/versions/{version}/parameters",
    operation_id = "list_parameters_by_version",
    params(TenantVersion),
    responses((status = 200, description = "The version's parameters.", body = ConfigurationParameterList)),
)]
pub async fn list_by_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, v) = path.into_inner();
    list_of(&state, None, v, false).await
}

/// `GET /datastores/versions/{id}/parameters/{name}`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/datastores/versions/{version}/parameters/{name}",
    operation_id = "show_parameter_by_version",
    params(VersionParameter),
    responses((status = 200, description = "The parameter.", body = ConfigurationParameter)),
)]
pub async fn show_by_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, v, name) = path.into_inner();
    one_of(&state, None, v, name, false).await
}

/// `GET /mgmt/datastores/versions/{id}/parameters`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/datastores/versions/{version}/parameters",
    operation_id = "list_mgmt_parameters",
    params(TenantVersion),
    responses((
        status = 200, description = "The version's parameters, as admins see them.",
        body = MgmtConfigurationParameterList,
    )),
)]
pub async fn mgmt_list(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, v) = path.into_inner();
    list_of(&state, None, v, true).await
}

/// `GET /mgmt/datastores/versions/{id}/parameters/{name}`.
#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/mgmt/datastores/versions/{version}/parameters/{name}",
    operation_id = "show_mgmt_parameter",
    params(VersionParameter),
    responses((status = 200, description = "The parameter, as admins see it.", body = MgmtConfigurationParameter)),
)]
pub async fn mgmt_show(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, v, name) = path.into_inner();
    one_of(&state, None, v, name, true).await
}

/// A bound of the admin's body (`min_size`, or Trove schema's `min`), a number or its text.
fn bound(obj: &serde_json::Map<String, Value>, keys: [&str; 2]) -> Result<Option<serde_json::Number>, ApiError> {
    match keys.iter().find_map(|k| obj.get(*k)).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.clone())),
        Some(Value::String(s)) => serde_json::from_str(s.trim())
            .ok()
            .filter(|v: &Value| v.is_number())
            .and_then(|v| v.as_number().cloned())
            .map(Some)
            .ok_or_else(|| bad(format!("'{s}' is not a number ({})", keys[0]))),
        Some(other) => Err(bad(format!("{other} is not a number ({})", keys[0]))),
    }
}

/// Checks the admin's `{"configuration-parameter": {...}}` (`name` from the body or the path).
fn admin_parameter(body: &Value, manager: Manager, path_name: Option<&str>) -> Result<Parameter, ApiError> {
    let top = object(body, "request body")?;
    let p = object(
        top.get("configuration-parameter")
            .ok_or_else(|| bad("'configuration-parameter' is a required property"))?,
        "configuration-parameter",
    )?;
    let name = match path_name {
        Some(n) => n.to_string(),
        None => string_field(p, "name")?.ok_or_else(|| bad("'name' is a required property"))?,
    };
    let name = parameters::canonical(manager, &name);
    if !parameters::plain_name(&name) {
        return Err(bad(format!("'{name}' is not a parameter name")));
    }
    if parameters::denied(manager, &name) {
        return Err(ApiError::Unprocessable(format!(
            "The configuration parameter {name} cannot be managed by configuration groups: coffer manages it."
        )));
    }
    let data_type = string_field(p, "data_type")?
        .and_then(|t| ParamType::parse(&t))
        .ok_or_else(|| bad("'data_type' must be one of integer, float, boolean, string"))?;
    let restart_required = match p.get("restart_required") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "1" | "true"),
        _ => return Err(bad("'restart_required' is a required property")),
    };
    let (min, max) = (bound(p, ["min_size", "min"])?, bound(p, ["max_size", "max"])?);
    if data_type == ParamType::Integer {
        min.as_ref()
            .ok_or_else(|| bad("min_size is required for integer data type."))?;
        max.as_ref()
            .ok_or_else(|| bad("max_size is required for integer data type."))?;
    }
    if let (Some(lo), Some(hi)) = (&min, &max) {
        if lo.as_f64() > hi.as_f64() {
            return Err(bad("max_size must be greater than or equal to min_size."));
        }
    }
    Ok(Parameter {
        name,
        data_type,
        restart_required,
        min,
        max,
        unit: None,
        enum_values: None,
        pattern: None,
    })
}

/// `POST` (create) and `PUT …/{name}` (replace) of an admin's parameter.
async fn put(state: &AppState, v: String, body: Value, path_name: Option<String>) -> Result<HttpResponse, ApiError> {
    let row = state
        .db
        .try_run(move |c| {
            let version = version_of(c, None, &v)?;
            let manager = Manager::parse(&version.manager).unwrap_or(Manager::Simulated);
            let p = admin_parameter(&body, manager, path_name.as_deref())?;
            Ok::<_, ApiError>(CatalogRow::put_admin(c, &version.id, &p)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view(&row, true)))
}

#[utoipa::path(
    post,
    path = "/v1.0/{tenant_id}/mgmt/datastores/versions/{version}/parameters",
    operation_id = "create_mgmt_parameter",
    params(TenantVersion),
    request_body = MgmtParameterCreateBody,
    responses((
        status = 200, description = "The parameter as stored (it replaces any of that name).",
        body = MgmtConfigurationParameter,
    )),
)]
pub async fn mgmt_create(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (_, v) = path.into_inner();
    put(&state, v, body.0, None).await
}

#[utoipa::path(
    put,
    path = "/v1.0/{tenant_id}/mgmt/datastores/versions/{version}/parameters/{name}",
    operation_id = "update_mgmt_parameter",
    params(VersionParameter),
    request_body = MgmtParameterUpdateBody,
    responses((
        status = 200, description = "The parameter as stored (added if the version had none of that name).",
        body = MgmtConfigurationParameter,
    )),
)]
pub async fn mgmt_update(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (_, v, name) = path.into_inner();
    put(&state, v, body.0, Some(name)).await
}

#[utoipa::path(
    delete,
    path = "/v1.0/{tenant_id}/mgmt/datastores/versions/{version}/parameters/{name}",
    operation_id = "delete_mgmt_parameter",
    params(VersionParameter),
    responses((status = 204, description = "The parameter is no longer offered.")),
)]
pub async fn mgmt_delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, v, name) = path.into_inner();
    state
        .db
        .try_run(move |c| {
            let version = version_of(c, None, &v)?;
            match CatalogRow::delete_admin(c, &version.id, &name)? {
                true => Ok(()),
                false => Err(ApiError::BadRequest(format!(
                    "Parameter {name} does not exist in the database."
                ))),
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
