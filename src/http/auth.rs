//! `/api/v1/auth/*`: register, login, refresh and logout, in JSend.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiJson;
use super::me::UserView;
use crate::app::{App, AppState};
use crate::auth::accounts::{RefreshError, Registration};
use crate::auth::{ClientInfo, TokenPair};
use crate::domain::User;
use crate::error::AppError;
use crate::http::principal::AuthUser;
use crate::web::{JSend, JSendFail, JsonBodyRefused, Unauthenticated};

/// Every answer here may carry tokens (or say something about an account): never stored by a
/// cache or a browser (RFC 6749 §5.1 asks it of token responses).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        .layer(axum::middleware::map_response(no_store))
}

async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"identifier": "alice@example.org", "password": "correct horse battery", "username": "alice", "first_name": "Alice"}))]
pub struct RegisterRequest {
    /// A username (3–32 of `A–Z a–z 0–9 _ .`), an e-mail, or a phone number with its `+` country code.
    identifier: String,
    /// 8–128 characters, not a common password.
    password: String,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// `female`, `male` or `unspecified` (default).
    gender: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"identifier": "alice", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// Username, e-mail or phone.
    identifier: String,
    password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "pX3b…43 characters…"}))]
pub struct RefreshRequest {
    refresh_token: String,
}

/// A token pair: a JWT access token and an opaque refresh token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln",
    "token_type": "Bearer", "expires_in": 900, "refresh_token": "pX3bQ2…"
}))]
pub struct Tokens {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: each refresh returns a new one, and replaying an old one ends the session.
    pub refresh_token: String,
}

impl From<TokenPair> for Tokens {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
        }
    }
}

/// The account and its first token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub user: UserView,
    #[serde(flatten)]
    pub tokens: Tokens,
}

impl Session {
    fn new(app: &App, user: User, pair: TokenPair) -> Self {
        Self { user: UserView::new(app, user), tokens: pair.into() }
    }
}

/// Create an account and sign in.
///
/// The identifier is classified by its shape: an `@` makes an e-mail, a leading `+` a phone,
/// anything else a username. No confirmation is needed.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = JSend<Session>),
        (status = 400, description = "Malformed JSON", body = JSendFail),
        (status = 409, description = "Identifier taken", body = JSendFail,
            example = json!({"status": "fail", "data": {"email": "is already taken"}})),
        (status = 413, description = "Body too large", body = JSendFail),
        (status = 415, description = "Not JSON", body = JSendFail),
        (status = 422, description = "Invalid fields", body = JSendFail,
            example = json!({"status": "fail", "data": {"password": "must be at least 8 characters"}})),
        (status = 429, description = "Too many registrations from this address; see `Retry-After`", body = JSendFail),
    )
)]
async fn register(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<JSend<Session>, AppError> {
    let input = Registration {
        identifier: body.identifier,
        password: body.password,
        username: body.username,
        email: body.email,
        phone: body.phone,
        first_name: body.first_name,
        last_name: body.last_name,
        gender: body.gender,
    };
    let (user, pair) = app.accounts.register(input, &client).await?;
    Ok(JSend::created(Session::new(&app, user, pair)))
}

/// Sign in with a username, e-mail or phone and a password.
///
/// An unknown identifier and a wrong password get the same answer, in the same time.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        JsonBodyRefused,
        (status = 200, description = "Signed in", body = JSend<Session>),
        (status = 401, description = "Wrong identifier or password", body = JSendFail,
            example = json!({"status": "fail", "data": {"message": "identifier or password is incorrect", "reason": "invalid_credentials"}})),
        (status = 403, description = "Account disabled", body = JSendFail),
        (status = 422, description = "Missing fields", body = JSendFail),
        (status = 429, description = "Too many failures for this account from this address; see `Retry-After`", body = JSendFail),
    )
)]
async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<JSend<Session>, AppError> {
    if body.identifier.trim().is_empty() {
        return Err(AppError::invalid("identifier", "must not be empty"));
    }
    let (user, pair) = app.accounts.login(&body.identifier, &body.password, &client).await.map_err(AppError::from)?;
    Ok(JSend::ok(Session::new(&app, user, pair)))
}

/// Trade a refresh token for a new pair.
///
/// The old refresh token stops working. Presenting it again is treated as theft: the whole
/// session is revoked (`refresh_token_reused`) and must sign in again.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        JsonBodyRefused,
        (status = 200, description = "A new token pair", body = JSend<Tokens>),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (session revoked)", body = JSendFail),
        (status = 409, description = "`refresh_conflict`: another request rotated this token a moment ago (within `auth.refresh_reuse_grace_secs`); the session lives, use the pair that request received", body = JSendFail),
        (status = 422, description = "`refresh_token` missing or empty", body = JSendFail),
        (status = 429, description = "Too many refreshes from this address", body = JSendFail),
    )
)]
async fn refresh(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<JSend<Tokens>, AppError> {
    match app.accounts.refresh(&body.refresh_token, &client).await {
        Ok(pair) => Ok(JSend::ok(pair.into())),
        Err(err @ RefreshError::Invalid) => Err(AppError::unauthorized("invalid_refresh_token", err.to_string())),
        Err(err @ RefreshError::Reused) => Err(AppError::unauthorized("refresh_token_reused", err.to_string())),
        Err(err @ RefreshError::Concurrent) => Err(AppError::conflict("refresh_conflict", err.to_string())),
        Err(RefreshError::RateLimited(retry)) => Err(AppError::RateLimited(retry)),
        Err(RefreshError::Internal(err)) => Err(AppError::Internal(err)),
    }
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed out", body = JSend<Option<String>>,
            example = json!({"status": "success", "data": null})),
        Unauthenticated,
    )
)]
async fn logout(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<Option<String>>, AppError> {
    app.accounts.logout(me).await?;
    Ok(JSend::ok(None))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.org"}))]
pub struct PasswordResetRequest {
    email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.org", "code": "40318827", "new_password": "staple fence orbit"}))]
pub struct PasswordResetConfirm {
    email: String,
    /// The 8-digit code from the e-mail.
    code: String,
    /// 8–128 characters, not a common password, not your own identifier.
    new_password: String,
}

/// Ask for a password-reset code by e-mail.
///
/// Always 202 with the same body, whether or not the address has an account. If it has, an
/// 8-digit code is mailed; it works once, for 15 minutes, and dies after 5 wrong tries. A new
/// request replaces the previous code.
#[utoipa::path(
    post, path = "/auth/password-reset", tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        JsonBodyRefused,
        (status = 202, description = "Accepted; a code is mailed if the address has an account", body = JSend<Option<String>>,
            example = json!({"status": "success", "data": null})),
        (status = 422, description = "Not an e-mail address", body = JSendFail,
            example = json!({"status": "fail", "data": {"email": "must be an e-mail address"}})),
        (status = 429, description = "Too many requests for this address or from this client; see `Retry-After`", body = JSendFail),
    )
)]
async fn request_password_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<JSend<Option<String>>, AppError> {
    app.accounts.request_password_reset(&body.email, &client).await?;
    Ok(JSend { http: axum::http::StatusCode::ACCEPTED, ..JSend::ok(None) })
}

/// Set a new password with an e-mailed code.
///
/// Every session of the account ends; sign in with the new password.
#[utoipa::path(
    post, path = "/auth/password-reset/confirm", tag = "auth",
    request_body = PasswordResetConfirm,
    responses(
        (status = 200, description = "Password set; all sessions ended", body = JSend<Option<String>>,
            example = json!({"status": "success", "data": null})),
        (status = 400, description = "Wrong, used or expired code, or unknown address (`invalid_code`); or malformed JSON (`invalid_json`)", body = JSendFail,
            example = json!({"status": "fail", "data": {"message": "the code is wrong or has expired; request a new one", "reason": "invalid_code"}})),
        (status = 422, description = "Weak new password (only said after a right code)", body = JSendFail),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", body = JSendFail),
        (status = 429, description = "Too many failed codes from this client; see `Retry-After`", body = JSendFail),
    )
)]
async fn confirm_password_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> Result<JSend<Option<String>>, AppError> {
    app.accounts.confirm_password_reset(&body.email, &body.code, &body.new_password, &client).await?;
    Ok(JSend::ok(None))
}
