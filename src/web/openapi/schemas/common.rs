//! Shapes many bodies share: links, references.

use utoipa::ToSchema;

/// One of a resource's links (`self` or `bookmark`).
#[derive(ToSchema)]
pub struct Link {
    /// Where the resource is.
    href: String,
    /// `self` (versioned) or `bookmark` (unversioned).
    rel: String,
}

/// A reference to another resource: its id and links.
#[derive(ToSchema)]
pub struct Reference {
    id: String,
    links: Vec<Link>,
}
