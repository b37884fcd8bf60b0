//! One login attempt, in the order that keeps a flood cheap: the client address's allowance is
//! looked at, a password-check slot is reserved (none free → 429 at once), the user is read
//! (the connection goes back to the pool), the attempt is charged to the user and the address
//! (over the allowance → 429, nothing checked), then the password is checked off the async
//! threads and, only if it is right, the token is written.

use crate::db::models::identity::User;
use crate::error::ApiError;
use crate::identity::{self, AuthError, BrakeKey, Principal};
use crate::web::AppState;
use actix_web::HttpRequest;

/// How long a client is told to wait when every password-check slot is busy.
const BUSY_RETRY_AFTER_S: u64 = 1;

/// The user a password login names.
pub struct UserRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: &'static str,
}

/// The project a login asks to be scoped to.
pub struct ScopeRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: &'static str,
}

/// The password hash a login is checked against: the user's, or the dummy's (same cost).
fn hash_of(user: Option<&User>) -> String {
    user.map(|u| u.password_hash.clone())
        .unwrap_or_else(|| identity::passwords::dummy_hash().to_string())
}

/// A login attempt from one client.
pub struct Attempt {
    state: AppState,
    address: BrakeKey,
}

fn braked() -> ApiError {
    ApiError::TooManyRequests {
        message: "Too many failed logins; try again later.".into(),
        retry_after_s: 60,
    }
}

impl Attempt {
    pub fn new(state: &AppState, req: &HttpRequest) -> Attempt {
        let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        Attempt {
            state: state.clone(),
            address: BrakeKey::address(&peer),
        }
    }

    fn address_allowance(&self) -> usize {
        self.state.services.config.auth.max_failed_logins.saturating_mul(10)
    }

    /// The password method. `Ok(None)`: refused (401).
    pub async fn with_password(
        &self,
        user: UserRef,
        password: String,
        scope: ScopeRef,
    ) -> Result<Option<(String, Principal)>, ApiError> {
        let (brake, config) = (&self.state.login_brake, &self.state.services.config.auth);
        if !brake.allows(self.address, self.address_allowance()) {
            return Err(braked());
        }
        let slot = self.state.passwords.reserve().map_err(|_| ApiError::TooManyRequests {
            message: "Too many logins at once; try again in a moment.".into(),
            retry_after_s: BUSY_RETRY_AFTER_S,
        })?;
        let (id, name, domain) = (user.id.clone(), user.name.clone(), user.domain);
        let found = self
            .state
            .db
            .run(move |c| identity::find_login_user(c, id.as_deref(), name.as_deref(), domain))
            .await?;
        let user_key = match &found {
            Some(u) => BrakeKey::user(&u.id),
            None => BrakeKey::unknown_user(user.name.as_deref().or(user.id.as_deref()).unwrap_or_default()),
        };
        if !brake.charge(user_key, config.max_failed_logins) {
            return Err(braked());
        }
        if !brake.charge(self.address, self.address_allowance()) {
            brake.refund(user_key);
            return Err(braked());
        }
        let hash = hash_of(found.as_ref());
        if !self.state.passwords.verify(slot, password, hash).await {
            return Ok(None);
        }
        let Some(user) = found else { return Ok(None) };
        // The password is right: this was no guess.
        brake.clear(user_key);
        brake.refund(self.address);
        let expires_at = identity::expiry(config.token_ttl_s, None);
        self.issue(user, scope, expires_at).await
    }

    /// The token method: a new token for the same user, never outliving the one presented.
    pub async fn with_token(&self, token: String, scope: ScopeRef) -> Result<Option<(String, Principal)>, ApiError> {
        let brake = &self.state.login_brake;
        if !brake.allows(self.address, self.address_allowance()) {
            return Err(braked());
        }
        let found = self.state.db.run(move |c| identity::find_token_user(c, &token)).await?;
        let Some((row, user)) = found else {
            brake.charge(self.address, self.address_allowance());
            return Ok(None);
        };
        // Without a scope, the same project as the token presented.
        let scope = match (&scope.id, &scope.name) {
            (None, None) => ScopeRef {
                id: Some(row.project_id.clone()),
                ..scope
            },
            _ => scope,
        };
        let ttl = self.state.services.config.auth.token_ttl_s;
        self.issue(user, scope, identity::expiry(ttl, Some(row.expires_at)))
            .await
    }

    async fn issue(
        &self,
        user: User,
        scope: ScopeRef,
        expires_at: i64,
    ) -> Result<Option<(String, Principal)>, ApiError> {
        let issued = self
            .state
            .db
            .run(move |c| {
                let project = (scope.id.as_deref(), scope.name.as_deref(), scope.domain);
                Ok(identity::issue(c, user, project, expires_at))
            })
            .await?;
        match issued {
            Ok(done) => Ok(Some(done)),
            Err(AuthError::Denied) => Ok(None),
            Err(AuthError::Db(e)) => Err(e.into()),
        }
    }
}
