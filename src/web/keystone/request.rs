//! The body of `POST /v3/auth/tokens` as it is parsed (its schema is derived from these types),
//! and the checks on it before any work: field lengths, the one domain.

use crate::identity::{DEFAULT_DOMAIN, MAX_FIELD_LEN};
use serde::Deserialize;
use utoipa::ToSchema;

/// Keystone's token request: a password (user by id, or by name and domain) or an existing
/// token, scoped to a project (by id, or by name and domain).
#[derive(Deserialize, ToSchema)]
pub(super) struct TokenRequest {
    pub(super) auth: Auth,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneAuth)]
pub(super) struct Auth {
    pub(super) identity: Identity,
    #[serde(default)]
    pub(super) scope: Option<Scope>,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneIdentity)]
pub(super) struct Identity {
    /// `["password"]` or `["token"]`.
    pub(super) methods: Vec<String>,
    #[serde(default)]
    pub(super) password: Option<PasswordMethod>,
    #[serde(default)]
    pub(super) token: Option<TokenMethod>,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystonePasswordMethod)]
pub(super) struct PasswordMethod {
    pub(super) user: NamedUser,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneNamedUser)]
pub(super) struct NamedUser {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) domain: Option<Domain>,
    pub(super) password: String,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneTokenMethod)]
pub(super) struct TokenMethod {
    pub(super) id: String,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneScope)]
pub(super) struct Scope {
    pub(super) project: Option<ProjectRef>,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneProjectRef)]
pub(super) struct ProjectRef {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) domain: Option<Domain>,
}
#[derive(Deserialize, ToSchema)]
#[schema(as = KeystoneDomain)]
pub(super) struct Domain {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
}

impl TokenRequest {
    /// The first identity field longer than Keystone allows, if any.
    pub(super) fn overlong_field(&self) -> Option<&'static str> {
        let too_long = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() > MAX_FIELD_LEN);
        let domain_too_long = |d: &Option<Domain>| d.as_ref().is_some_and(|d| too_long(&d.id) || too_long(&d.name));
        let identity = &self.auth.identity;
        if identity.methods.len() > 4 || identity.methods.iter().any(|m| m.len() > MAX_FIELD_LEN) {
            return Some("methods");
        }
        if let Some(pw) = &identity.password {
            let u = &pw.user;
            if too_long(&u.id) || too_long(&u.name) || domain_too_long(&u.domain) {
                return Some("user");
            }
            // Keystone's max_password_length.
            if u.password.len() > 4096 {
                return Some("password");
            }
        }
        if identity.token.as_ref().is_some_and(|t| t.id.len() > MAX_FIELD_LEN) {
            return Some("token");
        }
        let project = self.auth.scope.as_ref().and_then(|s| s.project.as_ref());
        if project.is_some_and(|p| too_long(&p.id) || too_long(&p.name) || domain_too_long(&p.domain)) {
            return Some("scope");
        }
        None
    }
}

/// The domain a reference names: coffer has one, `default` (name `Default`).
pub(super) fn domain_of(domain: &Option<Domain>) -> Option<&'static str> {
    match domain {
        None => Some(DEFAULT_DOMAIN),
        Some(d) => {
            let by_id = d.id.as_deref().is_none_or(|id| id == DEFAULT_DOMAIN);
            let by_name = d.name.as_deref().is_none_or(|n| n.eq_ignore_ascii_case("default"));
            (by_id && by_name).then_some(DEFAULT_DOMAIN)
        }
    }
}
