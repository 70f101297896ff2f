//! The register and login use cases ([`Accounts`]), shared by the JSON API and the OAuth token
//! endpoint; password reset is in `reset.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::{Auth, ClientInfo, Principal, RefreshFailure, TokenPair, WebSession};
use crate::domain::SessionId;
use crate::domain::{Email, Gender, Identifier, NewPassword, Phone, User, Username};
use crate::error::{AppError, FieldErrors};
use crate::limits::Limits;
use crate::mail::Mailer;
use crate::store::{NewUser, SessionInfo, Store, now};

/// A registration as received, before validation.
#[derive(Debug, Default, Clone)]
pub struct Registration {
    pub identifier: String,
    pub password: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown identifier or wrong password: one answer for both.
    #[error("identifier or password is incorrect")]
    InvalidCredentials,
    #[error("the account is disabled")]
    Disabled,
    #[error("too many failed attempts")]
    RateLimited(Duration),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, or its session ended.
    #[error("the refresh token is invalid or its session has ended")]
    Invalid,
    /// Used before: the session is revoked, since someone else holds a copy.
    #[error("this refresh token was already used; the session has been revoked for safety")]
    Reused,
    /// Rotated a moment ago by another request of the same holder; the session lives.
    #[error("this refresh token was just rotated by another request; use the pair that request received")]
    Concurrent,
    #[error("too many refreshes")]
    RateLimited(Duration),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A login refusal as every interface answers it.
impl From<LoginError> for AppError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::unauthorized("invalid_credentials", err.to_string()),
            LoginError::Disabled => Self::forbidden("account_disabled", err.to_string()),
            LoginError::RateLimited(retry) => Self::RateLimited(retry),
            LoginError::Internal(inner) => Self::Internal(inner),
        }
    }
}

pub const NAME_MAX: usize = 64;

/// A first or last name: trimmed, at most 64 characters, no control characters, something
/// visible and nothing that reorders the text after it ([`crate::domain::unicode::label_rule`]);
/// blank is none.
pub fn parse_name(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    crate::domain::unicode::label_rule(name)?;
    Ok(Some(name.to_owned()))
}

/// Registration, login and password reset. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pub(super) store: Store,
    pub(super) auth: Arc<Auth>,
    pub(super) limits: Arc<Limits>,
    pub(super) mailer: Arc<Mailer>,
}

impl Accounts {
    pub fn new(store: Store, auth: Arc<Auth>, limits: Arc<Limits>, mailer: Arc<Mailer>) -> Self {
        Self { store, auth, limits, mailer }
    }

    /// Validates every field (reporting all problems at once), creates the account and opens its
    /// first session.
    pub async fn register(&self, input: Registration, client: &ClientInfo) -> Result<(User, TokenPair), AppError> {
        let user = self.create_account(input, client).await?;
        let pair = self.auth.open_session(user.id, client).await?;
        Ok((user, pair))
    }

    /// [`Self::register`] for the web site: the first session is a cookie's.
    pub async fn register_web(&self, input: Registration, client: &ClientInfo) -> Result<(User, WebSession), AppError> {
        let user = self.create_account(input, client).await?;
        let session = self.auth.open_web_session(user.id, client).await?;
        Ok((user, session))
    }

    async fn create_account(&self, input: Registration, client: &ClientInfo) -> Result<User, AppError> {
        let limits = &self.limits;
        limits.acquire(limits.register, &client.ip.to_string()).await?;

        let mut errors = FieldErrors::new();
        let mut check = |field: &str, result: Result<(), String>| {
            if let Err(message) = result {
                errors.entry(field.to_owned()).or_insert(message);
            }
        };
        let identifier = Identifier::parse(&input.identifier).and_then(|identifier| match identifier {
            Identifier::Email(email) => Email::parse_new(email.as_str()).map(Identifier::Email),
            other => Ok(other),
        });
        check("identifier", identifier.as_ref().map(|_| ()).map_err(Clone::clone));
        let mut username = input.username.as_deref().map(Username::parse).transpose();
        let mut email = input.email.as_deref().map(Email::parse_new).transpose();
        let mut phone = input.phone.as_deref().map(Phone::parse).transpose();
        // The identifier fills its own field; a different value given for that field is a conflict.
        match &identifier {
            Ok(Identifier::Username(u)) => merge(&mut username, u.clone(), Username::key),
            Ok(Identifier::Email(e)) => merge(&mut email, e.clone(), |e| e.as_str().to_owned()),
            Ok(Identifier::Phone(p)) => merge(&mut phone, p.clone(), |p| p.as_str().to_owned()),
            Err(_) => {}
        }
        check("username", username.as_ref().map(|_| ()).map_err(Clone::clone));
        check("email", email.as_ref().map(|_| ()).map_err(Clone::clone));
        check("phone", phone.as_ref().map(|_| ()).map_err(Clone::clone));
        let first_name = parse_name(input.first_name.as_deref());
        check("first_name", first_name.as_ref().map(|_| ()).map_err(Clone::clone));
        let last_name = parse_name(input.last_name.as_deref());
        check("last_name", last_name.as_ref().map(|_| ()).map_err(Clone::clone));
        let gender = input.gender.as_deref().map(Gender::parse).transpose();
        check("gender", gender.as_ref().map(|_| ()).map_err(Clone::clone));
        let own: Vec<String> = [
            username.as_ref().ok().and_then(|u| u.as_ref().map(|u| u.as_str().to_owned())),
            email.as_ref().ok().and_then(|e| e.as_ref().map(|e| e.as_str().to_owned())),
            phone.as_ref().ok().and_then(|p| p.as_ref().map(|p| p.as_str().to_owned())),
        ]
        .into_iter()
        .flatten()
        .collect();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let password = NewPassword::parse(&input.password, &own);
        check("password", password.as_ref().map(|_| ()).map_err(Clone::clone));
        let (Ok(username), Ok(email), Ok(phone), Ok(first_name), Ok(last_name), Ok(gender), Ok(password)) =
            (username, email, phone, first_name, last_name, gender, password)
        else {
            return Err(AppError::invalid_fields(errors));
        };
        if !errors.is_empty() {
            return Err(AppError::invalid_fields(errors));
        }

        let password_hash = self.auth.hasher.hash(password.expose()).await?;
        let new = NewUser {
            username,
            email,
            phone,
            first_name,
            last_name,
            gender: gender.unwrap_or_default(),
            password_hash,
            is_admin: false,
        };
        let user = self.store.create_user(None, new).await?;
        tracing::info!(user_id = %user.id, "account registered");
        Ok(user)
    }

    /// Checks credentials and opens a session. Unknown accounts cost a full hash verification,
    /// so the two failures cannot be told apart by timing either.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), LoginError> {
        let user = self.check_login(identifier, password, client).await?;
        let pair = self.auth.open_session(user.id, client).await?;
        Ok((user, pair))
    }

    /// [`Self::login`] for the web site: the session is a cookie's.
    pub async fn login_web(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(User, WebSession), LoginError> {
        let user = self.check_login(identifier, password, client).await?;
        let session = self.auth.open_web_session(user.id, client).await?;
        Ok((user, session))
    }

    /// The account whose credentials these are, under the login limits: per account and
    /// address, per address, and per account across every address it has no session from. The
    /// last stops credential stuffing spread over many addresses, and only slows the account:
    /// its owner, from an address they are signed in from, still logs in (a new address waits
    /// out the window; the trade-off is in DESIGN §6).
    async fn check_login(&self, identifier: &str, password: &str, client: &ClientInfo) -> Result<User, LoginError> {
        let parsed = Identifier::parse(identifier).ok();
        let account_key = match &parsed {
            Some(id) => id.key(),
            None => identifier.trim().to_lowercase().chars().take(256).collect(),
        };
        let ip = client.ip.to_string();
        let per_account = format!("{account_key}|{ip}");
        let limits = &self.limits;
        limits.limiter.check(limits.login_per_account, &per_account).await.map_err(LoginError::RateLimited)?;
        limits.limiter.check(limits.login_per_address, &ip).await.map_err(LoginError::RateLimited)?;

        let found = match &parsed {
            Some(id) => self.store.find_login(id).await.map_err(anyhow::Error::from)?,
            None => None,
        };
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        // An account that does not exist has no known address: it is limited alike.
        let known_address = match &user {
            Some(user) => self.store.has_session_from(user.id, &ip).await.map_err(anyhow::Error::from)?,
            None => false,
        };
        let strangers = limits.login_per_account_from_new_addresses;
        if !known_address {
            limits.limiter.check(strangers, &account_key).await.map_err(LoginError::RateLimited)?;
        }
        if !self.auth.hasher.verify(password, hash.as_deref()).await? {
            limits.record(limits.login_per_account, &per_account).await;
            limits.record(limits.login_per_address, &ip).await;
            if !known_address {
                limits.record(strangers, &account_key).await;
            }
            return Err(LoginError::InvalidCredentials);
        }
        user.filter(|u| u.is_active).ok_or(LoginError::Disabled)
    }
}

impl Accounts {
    /// Trades a refresh token for a new pair (rotation); a reused one ends its session.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<TokenPair, RefreshError> {
        let limits = &self.limits;
        limits.limiter.acquire(limits.refresh, &client.ip.to_string()).await.map_err(RefreshError::RateLimited)?;
        match self.auth.refresh(refresh_token).await? {
            Ok(pair) => Ok(pair),
            Err(RefreshFailure::Invalid) => Err(RefreshError::Invalid),
            Err(RefreshFailure::Reused) => Err(RefreshError::Reused),
            Err(RefreshFailure::Concurrent) => Err(RefreshError::Concurrent),
        }
    }

    /// My live sessions (devices), newest first.
    pub async fn sessions(&self, me: Principal) -> Result<Vec<SessionInfo>, AppError> {
        let now = now();
        let sessions = self.store.sessions_of(me.user_id).await?;
        Ok(sessions.into_iter().filter(|s| s.expires_at > now).collect())
    }

    /// Ends the caller's own session.
    pub async fn logout(&self, me: Principal) -> Result<(), AppError> {
        self.auth.revoke_session(Some(me.user_id), me.session_id, "logout").await?;
        Ok(())
    }

    /// Ends one of my sessions (another device, or this one); anyone else's is not found.
    pub async fn end_session(&self, me: Principal, session_id: SessionId) -> Result<(), AppError> {
        match self.store.session(session_id).await? {
            Some(session) if session.user_id == me.user_id => {
                self.auth.revoke_session(Some(me.user_id), session_id, "revoke_session").await?;
                Ok(())
            }
            _ => Err(session_not_found()),
        }
    }

    /// Ends the session of a refresh or access token, whoever presents it (RFC 7009: knowing
    /// the token is the authority). An unknown token is no error.
    pub async fn revoke_token(&self, token: &str) -> anyhow::Result<()> {
        let session = match self.auth.session_of_refresh_token(token).await? {
            Some(session) => Some(session),
            None => self.auth.keys.current().verify(token).ok().map(|claims| claims.sid),
        };
        if let Some(session) = session {
            self.auth.revoke_session(None, session, "revoke").await?;
        }
        Ok(())
    }

    /// Creates an administrator account (the command line's `create-admin`).
    pub async fn create_admin(
        &self,
        username: Username,
        email: Option<Email>,
        password: NewPassword,
    ) -> Result<User, AppError> {
        let password_hash = self.auth.hasher.hash(password.expose()).await?;
        let new = NewUser {
            username: Some(username),
            email,
            phone: None,
            first_name: None,
            last_name: None,
            gender: Default::default(),
            password_hash,
            is_admin: true,
        };
        let user = self.store.create_user(None, new).await?;
        tracing::info!(user_id = %user.id, "administrator created");
        Ok(user)
    }
}

pub fn session_not_found() -> AppError {
    AppError::not_found("session_not_found", "no such session")
}

/// The answer when the caller's account was deleted while its token was still in hand.
pub fn account_gone() -> AppError {
    AppError::unauthorized("session_revoked", "the account no longer exists")
}

/// Puts the identifier's value into its field, or marks the field as conflicting with it.
fn merge<T: Clone>(field: &mut Result<Option<T>, String>, from_identifier: T, key: impl Fn(&T) -> String) {
    *field = match std::mem::replace(field, Ok(None)) {
        Ok(Some(given)) if key(&given) != key(&from_identifier) => Err("differs from the identifier".to_owned()),
        Err(message) => Err(message),
        _ => Ok(Some(from_identifier)),
    };
}
