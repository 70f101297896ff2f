//! Authentication: passwords, tokens, and sessions with immediate revocation.
//!
//! An access token is a short-lived EdDSA JWT naming its user (`sub`) and session (`sid`). Its
//! signature is checked statelessly; its session is checked on every request against a small
//! in-process cache that revocation invalidates explicitly, so logout takes effect at once
//! without a database round trip per request. The cache is keyed by session so that a
//! cross-instance bus can drive the same invalidation on every instance.

pub mod accounts;
pub mod keyring;
pub mod password;
pub mod reset;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use time::OffsetDateTime;

pub use accounts::Accounts;
pub use keyring::KeyRing;
pub use password::PasswordHasher;
pub use tokens::{TokenError, TokenKeys};

use crate::domain::{SessionId, UserId};
use crate::store::{Credential, NewSession, Rotation, Stale, Store};

/// The caller's address and user agent, for sessions and rate limits.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: std::net::IpAddr,
    pub user_agent: Option<String>,
}

/// 401 with `WWW-Authenticate: Bearer` and the failure's reason.
impl From<AuthFailure> for crate::error::AppError {
    fn from(failure: AuthFailure) -> Self {
        Self::unauthorized(failure.reason(), failure.message())
    }
}

/// What a successful login, registration or refresh hands out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// A web session just opened: who it is, and the secret its cookie carries.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub principal: Principal,
    pub secret: String,
}

/// The stored form of a web session's secret.
fn web_secret_hash(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

/// The CSRF token of a web session: derived from its secret, which only the cookie holds, so a
/// page can embed it and no other site can compute it.
pub fn csrf_token(secret: &str) -> String {
    crate::digest::sha256_hex(&[b"parlor csrf\0".as_slice(), secret.as_bytes()].concat())
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Token(TokenError),
    /// Signature fine, but the session was revoked or the account deleted or disabled.
    SessionEnded,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Token(err) => err.reason(),
            Self::SessionEnded => "session_revoked",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "an access token is required (Authorization: Bearer …)",
            Self::Token(TokenError::Expired) => "the access token has expired; refresh it",
            Self::Token(TokenError::Invalid) => "the access token is invalid",
            Self::SessionEnded => "the session has ended; log in again",
        }
    }
}

/// The refresh outcomes a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    Invalid,
    Reused,
    /// Rotated a moment ago by another request: its holder raced itself.
    Concurrent,
}

/// Who is calling: the checked `sub` and `sid` of a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// What this instance knows of sessions: id → owner while live, `None` once known dead. Clones
/// share one cache.
#[derive(Clone)]
pub struct SessionCache(Cache<SessionId, Option<UserId>>);

impl SessionCache {
    /// What is known of a session: `Some(owner)` while live, `Some(None)` once dead, `None` if
    /// nothing is cached.
    fn owner(&self, session_id: SessionId) -> Option<Option<UserId>> {
        self.0.get(&session_id)
    }

    /// Caches what the database said of a session.
    fn remember(&self, session_id: SessionId, owner: Option<UserId>) {
        self.0.insert(session_id, owner);
    }

    /// Marks a session dead in this instance's cache only: for news from other instances.
    pub fn forget_locally(&self, session_id: SessionId) {
        self.remember(session_id, None);
    }

    /// Empties the cache: after missing news from other instances, every session is read from
    /// the database again.
    pub fn forget_all_locally(&self) {
        self.0.invalidate_all();
    }
}

pub struct Auth {
    store: Store,
    pub hasher: PasswordHasher,
    pub keys: Arc<KeyRing>,
    sessions: SessionCache,
    /// Access tokens whose signature was already checked → their claims. Keyed by the SHA-256 of
    /// the whole token, so only the identical token hits; expiry is checked again on every hit.
    /// The digest rather than the token itself: each entry lives as long as its token, and a
    /// busy server holds tens of thousands of them.
    verified: Cache<[u8; 32], tokens::Claims>,
    refresh_ttl: Duration,
    /// How soon after a rotation presenting the old token again is a race, not a replay.
    refresh_grace: Duration,
}

impl Auth {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        keys: Arc<KeyRing>,
        cache_ttl: Duration,
        refresh_ttl: Duration,
        refresh_grace: Duration,
    ) -> Self {
        let sessions = SessionCache(Cache::builder().max_capacity(1_000_000).time_to_live(cache_ttl).build());
        let access_ttl = Duration::from_secs(u64::try_from(keys.current().access_ttl_secs()).unwrap_or(900));
        let verified = Cache::builder().max_capacity(50_000).time_to_live(access_ttl).build();
        Self { store, hasher, keys, sessions, verified, refresh_ttl, refresh_grace }
    }

    fn refresh_expiry(&self) -> OffsetDateTime {
        crate::store::now() + self.refresh_ttl
    }

    /// Opens a session for `user_id` and returns its first token pair.
    pub async fn open_session(&self, user_id: UserId, client: &ClientInfo) -> anyhow::Result<TokenPair> {
        let refresh_token = tokens::new_refresh_token()?;
        let credential = Credential::RefreshToken(tokens::refresh_token_hash(&refresh_token));
        let session_id = self.create_session(user_id, client, credential).await?;
        self.pair(user_id, session_id, refresh_token)
    }

    /// A new session row holding `credential` (only ever a hash), known live from now on.
    async fn create_session(
        &self,
        user_id: UserId,
        client: &ClientInfo,
        credential: Credential,
    ) -> anyhow::Result<SessionId> {
        let session = self
            .store
            .create_session(NewSession {
                user_id,
                user_agent: client.user_agent.clone(),
                ip: Some(client.ip.to_string()),
                credential,
                expires_at: self.refresh_expiry(),
            })
            .await?;
        self.sessions.remember(session.id, Some(user_id));
        Ok(session.id)
    }

    /// Opens a session of the web site for `user_id`; returns it and the secret for its cookie,
    /// of which only a hash is stored.
    pub async fn open_web_session(&self, user_id: UserId, client: &ClientInfo) -> anyhow::Result<WebSession> {
        let secret = tokens::new_refresh_token()?;
        let session_id = self.create_session(user_id, client, Credential::WebCookie(web_secret_hash(&secret))).await?;
        Ok(WebSession { principal: Principal { user_id, session_id }, secret })
    }

    /// The principal of a web session's cookie secret, if the session is live.
    pub async fn authenticate_web(&self, secret: &str) -> Result<Principal, AuthFailure> {
        match self.store.web_session(&web_secret_hash(secret)).await {
            Ok(Some((session_id, user_id))) => Ok(Principal { user_id, session_id }),
            Ok(None) => Err(AuthFailure::SessionEnded),
            Err(err) => {
                tracing::warn!(error = %err, "reading a web session failed; treated as signed out");
                Err(AuthFailure::SessionEnded)
            }
        }
    }

    /// Rotates a refresh token into a new pair. A replayed (already rotated) token ends its
    /// session for every holder, unless it was rotated within the grace time: then two requests
    /// of its holder raced, and the loser is refused without harm.
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<Result<TokenPair, RefreshFailure>> {
        let next = tokens::new_refresh_token()?;
        let old_hash = tokens::refresh_token_hash(refresh_token);
        let new_hash = tokens::refresh_token_hash(&next);
        match self.store.rotate_refresh_token(&old_hash, new_hash, self.refresh_expiry(), self.refresh_grace).await? {
            Rotation::Rotated { session_id, user_id } => Ok(Ok(self.pair(user_id, session_id, next)?)),
            Rotation::Reused { session_id, user_id } => {
                tracing::warn!(%session_id, %user_id, "refresh token reused; session revoked");
                self.forget_session(user_id, session_id);
                Ok(Err(RefreshFailure::Reused))
            }
            Rotation::Concurrent => Ok(Err(RefreshFailure::Concurrent)),
            Rotation::Invalid => Ok(Err(RefreshFailure::Invalid)),
        }
    }

    fn pair(&self, user_id: UserId, session_id: SessionId, refresh_token: String) -> anyhow::Result<TokenPair> {
        Ok(TokenPair {
            user_id,
            session_id,
            access_token: self.keys.current().issue(user_id, session_id)?,
            expires_in: self.keys.current().access_ttl_secs(),
            refresh_token,
        })
    }

    /// Checks a bearer token: signature and lifetime, then that its session is still live.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthFailure> {
        let claims = self.verify_access_token(token).map_err(AuthFailure::Token)?;
        let principal = Principal { user_id: claims.sub, session_id: claims.sid };
        if self.session_live(principal).await { Ok(principal) } else { Err(AuthFailure::SessionEnded) }
    }

    /// Whether a session is still live and belongs to its claimed user: from the cache, or from
    /// the database (then cached). A database failure counts as not live.
    pub async fn session_live(&self, principal: Principal) -> bool {
        let owner = match self.sessions.owner(principal.session_id) {
            Some(cached) => cached,
            None => match self.store.live_session_owner(principal.session_id).await {
                Ok(owner) => {
                    self.sessions.remember(principal.session_id, owner);
                    owner
                }
                Err(err) => {
                    tracing::error!(error = %err, "session check failed");
                    None
                }
            },
        };
        owner == Some(principal.user_id)
    }

    /// [`TokenKeys::verify`], remembering good tokens: an Ed25519 verification costs more than
    /// the rest of a typical authenticated request.
    pub fn verify_access_token(&self, token: &str) -> Result<tokens::Claims, TokenError> {
        let key = crate::digest::sha256(token.as_bytes());
        if let Some(claims) = self.verified.get(&key) {
            return if self.keys.current().is_expired(&claims) { Err(TokenError::Expired) } else { Ok(claims) };
        }
        let claims = self.keys.current().verify(token)?;
        self.verified.insert(key, claims.clone());
        Ok(claims)
    }

    /// Ends a session: its refresh tokens die with the row, its access tokens at the next request.
    pub async fn revoke_session(
        &self,
        actor: Option<UserId>,
        session_id: SessionId,
        action: &'static str,
    ) -> anyhow::Result<bool> {
        match self.store.delete_session(actor, session_id, action).await? {
            Some(owner) => {
                self.forget_session(owner, session_id);
                Ok(true)
            }
            None => {
                self.sessions.forget_locally(session_id);
                Ok(false)
            }
        }
    }

    /// Marks an ended session dead here and reports it, so every instance does the same and
    /// closes its sockets.
    pub fn forget_session(&self, user_id: UserId, session_id: SessionId) {
        self.sessions.forget_locally(session_id);
        self.store.report_stale(Stale::Session { user_id, session_id });
    }

    /// This instance's session cache, for the real-time side to act on other instances' news.
    pub fn session_cache(&self) -> SessionCache {
        self.sessions.clone()
    }

    /// The session a refresh token belongs to, whether live or already rotated.
    pub async fn session_of_refresh_token(&self, refresh_token: &str) -> anyhow::Result<Option<SessionId>> {
        Ok(self.store.session_of_refresh_token(&tokens::refresh_token_hash(refresh_token)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;

    async fn auth() -> Auth {
        let config = AuthConfig::default();
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let keys = TokenKeys::from_keys(&[tokens::generate_signing_key().unwrap()], &config).unwrap();
        let hasher = PasswordHasher::new(&config).unwrap();
        Auth::new(
            store,
            hasher,
            Arc::new(keys.into()),
            Duration::from_secs(30),
            Duration::from_secs(3600),
            Duration::from_secs(10),
        )
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let auth = auth().await;
        let token = auth.keys.current().issue(UserId::new(), SessionId::new()).unwrap();
        let mut claims = auth.keys.current().verify(&token).unwrap();
        // One second inside the 30 s leeway: valid now, expired a moment later.
        claims.exp = OffsetDateTime::now_utc().unix_timestamp() - 29;
        let token = auth.keys.current().sign(&claims).unwrap();

        assert_eq!(auth.verify_access_token(&token), Ok(claims.clone()), "first check verifies and remembers");
        assert_eq!(auth.verify_access_token(&token), Ok(claims), "second check is a cache hit");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(auth.verify_access_token(&token), Err(TokenError::Expired), "the cache must not outlive exp");
    }

    #[tokio::test]
    async fn a_refused_token_is_not_remembered() {
        let auth = auth().await;
        let other = TokenKeys::from_keys(&[tokens::generate_signing_key().unwrap()], &AuthConfig::default()).unwrap();
        let forged = other.issue(UserId::new(), SessionId::new()).unwrap();
        assert_eq!(auth.verify_access_token(&forged), Err(TokenError::Invalid));
        assert_eq!(auth.verify_access_token(&forged), Err(TokenError::Invalid));
        assert_eq!(auth.verified.get(&crate::digest::sha256(forged.as_bytes())), None);
    }
}
