//! Flavors, datastores and their versions: what an instance can be made of.

use super::common::Link;
use crate::web::datastores::{DatastoreView, VersionView};
use utoipa::ToSchema;

/// Trove's flavor view.
#[derive(ToSchema)]
pub struct Flavor {
    /// The id as an integer, or null when it is not one.
    id: Option<i64>,
    /// The id as a string, always.
    str_id: String,
    name: String,
    /// Memory, MiB.
    ram: i64,
    vcpus: i64,
    /// Root disk, GiB.
    disk: i64,
    ephemeral: i64,
    links: Vec<Link>,
}

/// `{"flavors": [...]}`.
#[derive(ToSchema)]
pub struct FlavorList {
    flavors: Vec<Flavor>,
}

/// `{"flavor": {...}}`.
#[derive(ToSchema)]
pub struct FlavorBody {
    flavor: Flavor,
}

// Datastores and versions: their schemas are derived on the views that render them
// (`DatastoreView`, and `VersionView` as `DatastoreVersionView`, in `web::datastores`).

/// `{"datastores": [...]}`.
#[derive(ToSchema)]
pub struct DatastoreList {
    datastores: Vec<DatastoreView<'static>>,
}

/// `{"datastore": {...}}`.
#[derive(ToSchema)]
pub struct DatastoreBody {
    datastore: DatastoreView<'static>,
}

/// `{"versions": [...]}`: a datastore's versions.
#[derive(ToSchema)]
pub struct DatastoreVersionList {
    versions: Vec<VersionView<'static>>,
}

/// `{"version": {...}}`.
#[derive(ToSchema)]
pub struct DatastoreVersionBody {
    version: VersionView<'static>,
}
