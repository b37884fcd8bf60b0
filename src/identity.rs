//! Identity: the users, projects and roles behind coffer's Keystone v3 subset — password
//! hashing (argon2id), tokens (random, stored as SHA-256, expiring), the bootstrap admin, and
//! the brake on repeated failed logins.
//!
//! An unknown user is checked against a dummy hash with the same parameters as a real one, so a
//! wrong password and an unknown user cost the same and answer the same.

use crate::db::models::identity::{self, Project, TokenRow, User};
use crate::db::{now_ms, write_tx, DbConn, DbError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const DEFAULT_DOMAIN: &str = "default";
pub const ROLES: [&str; 3] = ["admin", "member", "reader"];

/// Hashes a password (argon2id, the crate's default parameters, a random salt).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    // The OS random source failing is not something coffer can work around.
    getrandom::fill(&mut salt).expect("the operating system's random source is unavailable");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode as a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash of nothing anyone knows, checked when the user does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::secrets::random_password(32)))
}

/// The digest under which a token is stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub project: Project,
    pub roles: Vec<String>,
    pub expires_at: i64,
    pub issued_at: i64,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
    /// Members and admins may change things; readers may only look.
    pub fn can_write(&self) -> bool {
        self.roles.iter().any(|r| r == "admin" || r == "member")
    }
}

/// Why a login failed (all of them answer the same 401 to the client).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("The request you have made requires authentication.")]
    Denied,
    #[error("{0}")]
    Db(#[from] DbError),
}

/// Checks a user's password and scope; issues a token.
pub fn login_with_password(
    conn: &mut DbConn,
    user: (Option<&str>, Option<&str>, &str),
    password: &str,
    project: (Option<&str>, Option<&str>, &str),
    ttl: Duration,
) -> Result<(String, Principal), AuthError> {
    let found = User::find(conn, user.0, user.1, user.2)?;
    let hash = found.as_ref().map(|u| u.password_hash.as_str()).unwrap_or(dummy_hash());
    let ok = verify(password, hash);
    let user = found.filter(|u| ok && u.enabled).ok_or(AuthError::Denied)?;
    issue(conn, user, project, ttl)
}

/// Exchanges a valid token for a new one (Keystone's `token` method).
pub fn login_with_token(
    conn: &mut DbConn,
    token: &str,
    project: (Option<&str>, Option<&str>, &str),
    ttl: Duration,
) -> Result<(String, Principal), AuthError> {
    let row = TokenRow::find_valid(conn, &token_digest(token))?.ok_or(AuthError::Denied)?;
    let user = User::find_by_id(conn, &row.user_id)?
        .filter(|u| u.enabled)
        .ok_or(AuthError::Denied)?;
    let scope = match (project.0, project.1) {
        (None, None) => (Some(row.project_id.as_str()), None, project.2),
        _ => project,
    };
    issue(conn, user, scope, ttl)
}

fn issue(
    conn: &mut DbConn,
    user: User,
    project: (Option<&str>, Option<&str>, &str),
    ttl: Duration,
) -> Result<(String, Principal), AuthError> {
    let project = Project::find(conn, project.0, project.1, project.2)?
        .filter(|p| p.enabled)
        .ok_or(AuthError::Denied)?;
    let roles = identity::roles_of(conn, &user.id, &project.id)?;
    if roles.is_empty() {
        return Err(AuthError::Denied);
    }
    let token = crate::secrets::random_password(48);
    let now = now_ms();
    let row = TokenRow {
        token_hash: token_digest(&token),
        user_id: user.id.clone(),
        project_id: project.id.clone(),
        issued_at: now,
        expires_at: now + ttl.as_millis() as i64,
    };
    row.insert(conn)?;
    let principal = Principal {
        user,
        project,
        roles,
        expires_at: row.expires_at,
        issued_at: now,
    };
    Ok((token, principal))
}

/// The principal of a valid, unexpired token.
pub fn resolve(conn: &mut DbConn, token: &str) -> Result<Option<Principal>, DbError> {
    let Some(row) = TokenRow::find_valid(conn, &token_digest(token))? else {
        return Ok(None);
    };
    let Some(user) = User::find_by_id(conn, &row.user_id)?.filter(|u| u.enabled) else {
        return Ok(None);
    };
    let Some(project) = Project::find(conn, Some(&row.project_id), None, DEFAULT_DOMAIN)? else {
        return Ok(None);
    };
    let roles = identity::roles_of(conn, &user.id, &project.id)?;
    Ok(Some(Principal {
        user,
        project,
        roles,
        expires_at: row.expires_at,
        issued_at: row.issued_at,
    }))
}

/// Creates a project, a user in it with `role`, in one transaction; returns (project, user).
pub fn create_user(
    conn: &mut DbConn,
    project: &str,
    name: &str,
    password: &str,
    role: &str,
) -> Result<(Project, User), DbError> {
    let hash = hash_password(password);
    write_tx(conn, |conn| {
        let project = match Project::find(conn, None, Some(project), DEFAULT_DOMAIN)? {
            Some(p) => p,
            None => Project::create(conn, project, DEFAULT_DOMAIN)?,
        };
        let user = match User::find(conn, None, Some(name), DEFAULT_DOMAIN)? {
            Some(u) => u,
            None => User::create(conn, name, DEFAULT_DOMAIN, &hash)?,
        };
        identity::assign_role(conn, &user.id, &project.id, role)?;
        Ok((project, user))
    })
}

/// Whether the bootstrap admin still has to be made (no user `admin` exists).
pub fn needs_bootstrap(conn: &mut DbConn) -> Result<bool, DbError> {
    Ok(User::find(conn, None, Some("admin"), DEFAULT_DOMAIN)?.is_none())
}

/// Creates the user `admin` with role admin on project `admin`, unless it exists.
pub fn bootstrap_admin(conn: &mut DbConn, password: &str) -> Result<bool, DbError> {
    if !needs_bootstrap(conn)? {
        return Ok(false);
    }
    create_user(conn, "admin", "admin", password, "admin")?;
    Ok(true)
}

/// Counts failed logins per key (user name, or client address) and refuses more than
/// `max` within `window`.
pub struct FailureBrake {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<String, Vec<Instant>>>,
}

impl FailureBrake {
    pub fn new(max: usize, window: Duration) -> FailureBrake {
        FailureBrake {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may try again now.
    pub fn allows(&self, key: &str) -> bool {
        let mut seen = self.seen.lock();
        let recent = seen.entry(key.to_string()).or_default();
        recent.retain(|t| t.elapsed() < self.window);
        recent.len() < self.max
    }

    /// Like `allows`, for keys many users share (a client address): ten times the allowance.
    pub fn allows_many(&self, key: &str) -> bool {
        let mut seen = self.seen.lock();
        let recent = seen.entry(key.to_string()).or_default();
        recent.retain(|t| t.elapsed() < self.window);
        recent.len() < self.max.saturating_mul(10)
    }

    pub fn failed(&self, key: &str) {
        let mut seen = self.seen.lock();
        if seen.len() > 100_000 {
            seen.clear(); // bounded memory under a flood of distinct keys
        }
        seen.entry(key.to_string()).or_default().push(Instant::now());
    }

    pub fn succeeded(&self, key: &str) {
        self.seen.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_tokens_digest() {
        let hash = hash_password("pw");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("pw", &hash));
        assert!(!verify("other", &hash));
        assert!(!verify("pw", dummy_hash()));
        assert_eq!(token_digest("t").len(), 64);
        let brake = FailureBrake::new(2, Duration::from_secs(60));
        assert!(brake.allows("u"));
        brake.failed("u");
        brake.failed("u");
        assert!(!brake.allows("u"));
        brake.succeeded("u");
        assert!(brake.allows("u"));
    }
}
