//! Configuration groups and the parameter catalog.

use super::common::Link;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A configuration group as lists show it.
#[derive(ToSchema)]
pub struct ConfigurationSummary {
    id: String,
    name: String,
    description: Option<String>,
    /// UTC, seconds (`2024-05-01T12:00:00`).
    created: String,
    updated: String,
    datastore_version_id: String,
    datastore_name: String,
    datastore_version_name: String,
    /// The version's own number (`8.0.36`).
    datastore_version_number: String,
}

/// A configuration group in full: the summary, its values, and how many instances use it.
#[derive(ToSchema)]
pub struct ConfigurationDetail {
    #[serde(flatten)]
    summary: ConfigurationSummary,
    /// The parameters' values by name: strings, numbers or booleans.
    values: BTreeMap<String, Value>,
    instance_count: i64,
}

/// `{"configurations": [...]}`, a page at a time.
#[derive(ToSchema)]
pub struct ConfigurationList {
    configurations: Vec<ConfigurationSummary>,
    /// The next page, when there is one.
    links: Option<Vec<Link>>,
}

/// `{"configuration": {...}}`.
#[derive(ToSchema)]
pub struct ConfigurationBody {
    configuration: ConfigurationDetail,
}

/// The datastore and version a new group is for (each its id or name).
#[derive(ToSchema)]
pub struct ConfigurationDatastore {
    /// The datastore; the default one when absent.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The version; the datastore's default when absent.
    version: Option<String>,
}

/// A new group.
#[derive(ToSchema)]
pub struct ConfigurationCreate {
    /// 1 to 255 printable characters, at least one a letter or a digit.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// As `name`.
    #[schema(min_length = 1, max_length = 255)]
    description: Option<String>,
    /// The parameters' values by name (strings, numbers or booleans), each checked against the
    /// version's parameters.
    values: BTreeMap<String, Value>,
    datastore: Option<ConfigurationDatastore>,
}

/// `POST /configurations`: `{"configuration": {...}}`.
#[derive(ToSchema)]
pub struct ConfigurationCreateBody {
    configuration: ConfigurationCreate,
}

/// PUT: the group's values replaced by these (none given: all removed); its name and
/// description changed when given.
#[derive(ToSchema)]
pub struct ConfigurationReplace {
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    description: Option<String>,
    #[schema(nullable = false)]
    values: Option<BTreeMap<String, Value>>,
}

/// `PUT /configurations/{id}`: `{"configuration": {...}}`.
#[derive(ToSchema)]
pub struct ConfigurationReplaceBody {
    configuration: ConfigurationReplace,
}

/// PATCH: these values merged into the group's; its name and description changed when given.
#[derive(ToSchema)]
pub struct ConfigurationMerge {
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    description: Option<String>,
    values: BTreeMap<String, Value>,
}

/// `PATCH /configurations/{id}`: `{"configuration": {...}}`.
#[derive(ToSchema)]
pub struct ConfigurationMergeBody {
    configuration: ConfigurationMerge,
}

/// An instance using a group.
#[derive(ToSchema)]
pub struct ConfigurationInstance {
    id: String,
    name: String,
}

/// `{"instances": [...]}`, a page at a time.
#[derive(ToSchema)]
pub struct ConfigurationInstanceList {
    instances: Vec<ConfigurationInstance>,
    /// The next page, when there is one.
    links: Option<Vec<Link>>,
}

/// The values an instance's server runs with.
#[derive(ToSchema)]
pub struct RunningConfiguration {
    /// Every parameter its version offers, by name, as the server shows it.
    configuration: BTreeMap<String, String>,
}

/// `GET /instances/{id}/configuration`: `{"instance": {"configuration": {...}}}`.
#[derive(ToSchema)]
pub struct RunningConfigurationBody {
    instance: RunningConfiguration,
}

/// A parameter a version offers to configuration groups.
#[derive(ToSchema)]
pub struct ConfigurationParameter {
    name: String,
    datastore_version_id: String,
    /// Whether a new value takes effect only once the server restarts.
    restart_required: bool,
    /// `integer`, `float`, `boolean` or `string`.
    #[serde(rename = "type")]
    kind: String,
    /// The least value of a number (absent when unbounded).
    min: Option<f64>,
    /// The greatest value of a number (absent when unbounded).
    max: Option<f64>,
}

/// `{"configuration-parameters": [...]}`.
#[derive(ToSchema)]
pub struct ConfigurationParameterList {
    #[serde(rename = "configuration-parameters")]
    parameters: Vec<ConfigurationParameter>,
}

/// A parameter as admins see it: its bounds are `min_size` and `max_size`.
#[derive(ToSchema)]
pub struct MgmtConfigurationParameter {
    name: String,
    datastore_version_id: String,
    restart_required: bool,
    /// `integer`, `float`, `boolean` or `string`.
    #[serde(rename = "type")]
    kind: String,
    /// The least value of a number (absent when unbounded).
    min_size: Option<f64>,
    /// The greatest value of a number (absent when unbounded).
    max_size: Option<f64>,
}

/// `{"configuration-parameters": [...]}`, as admins see them.
#[derive(ToSchema)]
pub struct MgmtConfigurationParameterList {
    #[serde(rename = "configuration-parameters")]
    parameters: Vec<MgmtConfigurationParameter>,
}

/// A new parameter. A name coffer manages itself is refused (422).
#[derive(ToSchema)]
pub struct MgmtParameterCreate {
    /// Lower-case letters, digits, `_` and `-`, at most 128 (in the datastore's own spelling).
    name: String,
    #[serde(flatten)]
    fields: MgmtParameterFields,
}

/// What an admin says of a parameter.
#[derive(ToSchema)]
pub struct MgmtParameterFields {
    /// `integer`, `float`, `boolean` or `string` (any case).
    data_type: String,
    /// Also taken as a number (non-zero: true) or as text (`true` or `1`: true).
    restart_required: bool,
    /// The least value, a number or its text (`min` is also taken); required for integers.
    min_size: Option<f64>,
    /// The greatest value, a number or its text (`max` is also taken); required for integers.
    max_size: Option<f64>,
}

/// `POST /mgmt/datastores/versions/{version}/parameters`: `{"configuration-parameter": {...}}`.
#[derive(ToSchema)]
pub struct MgmtParameterCreateBody {
    #[serde(rename = "configuration-parameter")]
    parameter: MgmtParameterCreate,
}

/// `PUT …/parameters/{name}`: `{"configuration-parameter": {...}}` (the name is the path's).
#[derive(ToSchema)]
pub struct MgmtParameterUpdateBody {
    #[serde(rename = "configuration-parameter")]
    parameter: MgmtParameterFields,
}
