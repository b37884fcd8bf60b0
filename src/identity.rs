//! Identity: the users, projects and roles behind coffer's Keystone v3 subset — password
//! hashes ([`passwords`], argon2id, checked under a bound), tokens (random, stored as SHA-256,
//! expiring, revocable), the bootstrap admin, and the brake on password guessing ([`brake`]).
//!
//! A login is three steps so that no database connection is held while a password is checked:
//! [`find_login_user`] reads the user, the caller checks the password, [`issue`] writes the token.
//! An unknown user is checked against a dummy hash with the same parameters as a real one, so a
//! wrong password and an unknown user cost the same and answer the same.

pub mod brake;
pub mod passwords;

pub use brake::{BrakeKey, LoginBrake};
pub use passwords::{hash_password, PasswordChecker};

use crate::db::models::identity::{self, Project, TokenRow, User};
use crate::db::{now_ms, write_tx, DbConn, DbError};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const DEFAULT_DOMAIN: &str = "default";
pub const ROLES: [&str; 3] = ["admin", "member", "reader"];
/// Keystone's limit on names and ids (and coffer's on the other identity fields).
pub const MAX_FIELD_LEN: usize = 255;

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

/// The user a password login names (by id, or by name in `domain`), enabled or not.
pub fn find_login_user(
    conn: &mut DbConn,
    id: Option<&str>,
    name: Option<&str>,
    domain: &str,
) -> Result<Option<User>, DbError> {
    User::find(conn, id, name, domain)
}

/// The token a token-method login presents, if it is valid, with its user.
pub fn find_token_user(conn: &mut DbConn, token: &str) -> Result<Option<(TokenRow, User)>, DbError> {
    let Some(row) = TokenRow::find_valid(conn, &token_digest(token))? else {
        return Ok(None);
    };
    Ok(User::find_by_id(conn, &row.user_id)?
        .filter(|u| u.enabled)
        .map(|u| (row, u)))
}

/// When a new token expires: `ttl` from now, but never after `cap` — a token obtained with
/// another token keeps that token's expiry (Keystone's rule), so re-issuing never extends it.
pub fn expiry(ttl: Duration, cap: Option<i64>) -> i64 {
    let fresh = now_ms() + ttl.as_millis() as i64;
    cap.map_or(fresh, |c| c.min(fresh))
}

/// Issues a token for `user` scoped to `project` (id, name, domain), expiring at `expires_at`.
pub fn issue(
    conn: &mut DbConn,
    user: User,
    project: (Option<&str>, Option<&str>, &str),
    expires_at: i64,
) -> Result<(String, Principal), AuthError> {
    if !user.enabled {
        return Err(AuthError::Denied);
    }
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
        expires_at,
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

/// Revokes a token (Keystone's `DELETE /v3/auth/tokens`); false when it was not valid.
pub fn revoke(conn: &mut DbConn, token: &str) -> Result<bool, DbError> {
    TokenRow::delete(conn, &token_digest(token))
}

/// The principal of a valid, unexpired token whose user and project are enabled and whose user
/// still holds a role on the project.
pub fn resolve(conn: &mut DbConn, token: &str) -> Result<Option<Principal>, DbError> {
    let Some(row) = TokenRow::find_valid(conn, &token_digest(token))? else {
        return Ok(None);
    };
    let Some(user) = User::find_by_id(conn, &row.user_id)?.filter(|u| u.enabled) else {
        return Ok(None);
    };
    let Some(project) = Project::find(conn, Some(&row.project_id), None, DEFAULT_DOMAIN)?.filter(|p| p.enabled) else {
        return Ok(None);
    };
    let roles = identity::roles_of(conn, &user.id, &project.id)?;
    // A user whose roles on the project were all taken away holds no valid token for it.
    if roles.is_empty() {
        return Ok(None);
    }
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
    let hash = passwords::hash_password(password);
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
