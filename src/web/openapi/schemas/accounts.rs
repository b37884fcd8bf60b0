//! Databases, users, their access, and root.

use super::common::Link;
use utoipa::ToSchema;

/// An instance's database: its name, and its character set and collation where the datastore
/// reports them.
#[derive(ToSchema)]
pub struct Database {
    name: String,
    /// Absent when the datastore does not report it.
    character_set: Option<String>,
    /// Absent when the datastore does not report it.
    collate: Option<String>,
}

/// `GET /instances/{id}/databases`: one page, by name.
#[derive(ToSchema)]
pub struct DatabaseList {
    databases: Vec<Database>,
    /// The `next` page (`?limit=…&marker=<last name>`), when there is one.
    links: Option<Vec<Link>>,
}

/// A database to create.
#[derive(ToSchema)]
pub struct NewDatabase {
    /// Within the datastore's rules (length, reserved names); given once in a request.
    #[schema(min_length = 1)]
    name: String,
    /// A character set the datastore knows (its default when absent).
    character_set: Option<String>,
    /// A collation of that character set (its default when absent).
    collate: Option<String>,
}

/// `POST /instances/{id}/databases`: `{"databases": [{"name", "character_set"?, "collate"?}]}`.
#[derive(ToSchema)]
pub struct DatabaseCreateRequest {
    /// At least one; none may exist already.
    #[schema(min_items = 1)]
    databases: Vec<NewDatabase>,
}

/// A database, by name, as a user's access shows it.
#[derive(ToSchema)]
pub struct DatabaseName {
    name: String,
}

/// A database, by name, in a request (it must exist on the instance).
#[derive(ToSchema)]
pub struct DatabaseRef {
    #[schema(min_length = 1)]
    name: String,
}

/// An instance's user and the databases it may use.
#[derive(ToSchema)]
pub struct User {
    name: String,
    /// `%` (any host) or an IP address.
    host: String,
    databases: Vec<DatabaseName>,
}

/// `GET /instances/{id}/users`: one page, by name.
#[derive(ToSchema)]
pub struct UserList {
    users: Vec<User>,
    /// The `next` page (`?limit=…&marker=<last name>`), when there is one.
    links: Option<Vec<Link>>,
}

/// `{"user": {...}}`.
#[derive(ToSchema)]
pub struct UserBody {
    user: User,
}

/// A user to create.
#[derive(ToSchema)]
pub struct NewUser {
    /// Within the datastore's rules (length, reserved names); given once in a request.
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_length = 1)]
    password: String,
    /// `%` (the default) or an IP address.
    host: Option<String>,
    /// Databases of the instance the user is granted.
    databases: Option<Vec<DatabaseRef>>,
}

/// `POST /instances/{id}/users`: `{"users": [{"name", "password", "host"?, "databases"?}]}`.
#[derive(ToSchema)]
pub struct UserCreateRequest {
    /// At least one; none may exist already.
    #[schema(min_items = 1)]
    users: Vec<NewUser>,
}

/// A user's new password.
#[derive(ToSchema)]
pub struct PasswordChange {
    /// An existing user's name.
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_length = 1)]
    password: String,
    /// `%` or an IP address (not used to find the user: users are found by name).
    host: Option<String>,
}

/// `PUT /instances/{id}/users`: `{"users": [{"name", "password"}]}`.
#[derive(ToSchema)]
pub struct PasswordChangeRequest {
    /// The users whose passwords change (Trove requires the key; coffer takes its absence as
    /// none).
    users: Option<Vec<PasswordChange>>,
}

/// What `PUT /users/{user}` changes: at least one of these, each 1 to 255 characters.
#[derive(ToSchema)]
pub struct UserUpdate {
    /// A new name, not another user's.
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    /// `%` or an IP address.
    #[schema(min_length = 1, max_length = 255)]
    host: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    password: Option<String>,
}

/// `PUT /instances/{id}/users/{user}`: `{"user": {"name"?, "host"?, "password"?}}`.
#[derive(ToSchema)]
pub struct UserUpdateRequest {
    user: UserUpdate,
}

/// `GET /users/{user}/databases`: the databases the user may use (all of them, unpaged).
#[derive(ToSchema)]
pub struct UserAccessList {
    databases: Vec<DatabaseName>,
}

/// `PUT /instances/{id}/users/{user}/databases`: `{"databases": [{"name"}]}` grants access.
#[derive(ToSchema)]
pub struct UserAccessRequest {
    /// Existing databases of the instance, each named once (Trove requires the key; coffer
    /// takes its absence as none).
    databases: Option<Vec<DatabaseRef>>,
}

/// `GET /instances/{id}/root`.
#[derive(ToSchema)]
pub struct RootStatus {
    /// Whether root was ever enabled (always true for a datastore without users, whose
    /// password is set at create).
    #[serde(rename = "rootEnabled")]
    root_enabled: bool,
}

/// The datastore's superuser and its new password.
#[derive(ToSchema)]
pub struct RootCredentials {
    /// `root`.
    name: String,
    /// Generated; shown only here.
    password: String,
}

/// `POST /instances/{id}/root`: `{"user": {"name": "root", "password": "…"}}`.
#[derive(ToSchema)]
pub struct RootCredentialsBody {
    user: RootCredentials,
}
