//! What every operation of the document shares, applied once instead of repeated in each
//! annotation: its tag (from its path), the token it needs (`X-Auth-Token`, a Keystone token),
//! and Trove's fault responses for the failures any such route can give.

use super::fault::Fault;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, PartialSchema as _};

/// The security scheme's name in the document.
pub const TOKEN: &str = "keystone_token";

/// Applies the shared parts to every operation.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token from POST /v3/auth/tokens (the X-Subject-Token of its answer).",
            ))),
        );
        components.schemas.insert("Fault".into(), Fault::schema());
        for (path, item) in openapi.paths.paths.iter_mut() {
            for method in &METHODS {
                if let Some(operation) = operation_mut(item, method) {
                    apply(path, method, operation);
                }
            }
        }
    }
}

const METHODS: [HttpMethod; 5] = [
    HttpMethod::Get,
    HttpMethod::Post,
    HttpMethod::Put,
    HttpMethod::Patch,
    HttpMethod::Delete,
];

fn operation_mut<'a>(item: &'a mut utoipa::openapi::PathItem, method: &HttpMethod) -> Option<&'a mut Operation> {
    match method {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        _ => None,
    }
}

/// Whether `path` needs a token: the project's API and `/mgmt`, the Compute view, and reading
/// or revoking a token.
fn needs_token(path: &str, method: &HttpMethod) -> bool {
    path.starts_with("/v1.0/")
        || path.starts_with("/compute/v2.1")
        || (path == "/v3/auth/tokens" && !matches!(method, HttpMethod::Post))
}

/// Whether `path` is below one instance: its reads ask the instance's guest too, which needs
/// the instance ready (422, Trove's `validate_can_perform_action`) and a datastore that
/// supports the operation (501).
fn reads_through_guest(path: &str) -> bool {
    path.contains("/instances/{id}/")
}

/// The operation's group in the document: the path's first resource name.
pub fn tag_of(path: &str) -> &str {
    let mut segments = path.split('/').filter(|s| !s.is_empty() && !s.starts_with('{'));
    match segments.next() {
        Some("v1.0") => match segments.next() {
            Some("mgmt") => "mgmt",
            Some(resource) => resource,
            None => "versions",
        },
        Some("v3") => "identity",
        Some("compute") => "compute",
        Some("console") => "console",
        Some("metrics" | "healthz" | "openapi.json") => "operations",
        _ => "versions",
    }
}

fn apply(path: &str, method: &HttpMethod, operation: &mut Operation) {
    operation.tags = Some(vec![tag_of(path).to_string()]);
    let secured = needs_token(path, method);
    if secured {
        operation.security = Some(vec![SecurityRequirement::new(TOKEN, Vec::<String>::new())]);
    }
    let has_body = operation.request_body.is_some();
    let writes = !matches!(method, HttpMethod::Get);
    let faults: &[(u16, &str, bool)] = &[
        (400, "The request is malformed or fails validation.", true),
        (401, "No token, or one that is not valid.", secured),
        (403, "The token's project or roles do not allow this.", secured),
        (404, "No such resource (or not the project's).", true),
        (409, "The resource's state does not allow this now.", writes),
        (
            413,
            "The request body, or what it asks for, is over a limit or quota.",
            writes,
        ),
        (414, "The request URI is over 8 KiB.", true),
        (415, "The request body is not JSON.", has_body),
        (
            422,
            "The request is well formed but cannot be carried out now (for one, the instance is not ready for it).",
            writes || reads_through_guest(path),
        ),
        (429, "Too many requests at once; retry after Retry-After seconds.", true),
        (
            501,
            "The instance's datastore does not support this.",
            reads_through_guest(path),
        ),
        (
            503,
            "A part of the service is unavailable; the request can be retried.",
            true,
        ),
    ];
    // `/v3` answers in Keystone's error shape, everything else in Trove's (Nova's is the same).
    let body = match path.starts_with("/v3") {
        true => "KeystoneError",
        false => "Fault",
    };
    for (status, description, applies) in faults {
        let key = status.to_string();
        if *applies && !operation.responses.responses.contains_key(&key) {
            operation
                .responses
                .responses
                .insert(key, fault_response(description, body));
        }
    }
}

fn fault_response(description: &str, body: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(body))))
                .build(),
        )
        .build()
        .into()
}
