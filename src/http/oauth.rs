//! `/oauth/token` (RFC 6749 §4.3 password and §6 refresh grants) and `/oauth/revoke` (RFC 7009).
//!
//! These speak RFC JSON, not JSend, so that stock OAuth 2.0 client libraries work unchanged.
//! Parlor's clients are public clients (mobile and web apps cannot keep a secret), so client
//! credentials, when sent, are accepted without a client registry.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tokens;
use super::extract::{has_content_type, read_body};
use crate::app::AppState;
use crate::auth::accounts::{LoginError, RefreshError};
use crate::auth::{ClientInfo, TokenPair};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(revoke))
}

/// The form of a token request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` or `refresh_token`.
    grant_type: Option<String>,
    /// Username, e-mail or phone (password grant).
    username: Option<String>,
    /// Password grant.
    password: Option<String>,
    /// Refresh grant.
    refresh_token: Option<String>,
    /// Accepted and ignored: Parlor has no scopes yet.
    scope: Option<String>,
    /// Accepted and ignored (public clients).
    client_id: Option<String>,
    /// Accepted and ignored (public clients).
    client_secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeForm {
    /// A refresh token or an access token.
    token: Option<String>,
    /// `refresh_token` or `access_token`; a hint only.
    token_type_hint: Option<String>,
    client_id: Option<String>,
}

/// RFC 6749 §5.2 error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "identifier or password is incorrect"}))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, …
    error: &'static str,
    error_description: String,
    #[serde(skip)]
    status: StatusCode,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { error, error_description: description.into(), status, retry_after: None }
    }

    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    fn rate_limited(retry: std::time::Duration) -> Self {
        let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "invalid_request", "too many attempts; try again later");
        err.retry_after = Some(retry.as_secs().max(1));
        err
    }

    fn server(err: &anyhow::Error) -> Self {
        tracing::error!(error = ?err, "token endpoint failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal server error")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, retry_after) = (self.status, self.retry_after);
        let mut response = no_store((status, Json(self)).into_response());
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Reads a form-encoded body, refusing other media types, oversize bodies and repeated fields.
async fn read_form<T: serde::de::DeserializeOwned>(state: &AppState, req: Request) -> Result<T, OAuthError> {
    if !has_content_type(req.headers(), |m| m == "application/x-www-form-urlencoded") {
        return Err(OAuthError::bad("invalid_request", "expected Content-Type: application/x-www-form-urlencoded"));
    }
    let bytes = read_body(req, state).await.map_err(|err| {
        OAuthError::new(crate::web::status(&err), "invalid_request", "the request body is too large or unreadable")
    })?;
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|err| OAuthError::bad("invalid_request", format!("malformed form: {err}")))
}

fn issued(pair: TokenPair) -> Response {
    no_store(Json(Tokens::from(pair)).into_response())
}

fn require<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::bad("invalid_request", format!("missing parameter `{name}`")))
}

/// OAuth 2.0 token endpoint (RFC 6749).
///
/// `grant_type=password` with `username` (any identifier) and `password`, or
/// `grant_type=refresh_token` with `refresh_token`. Answers in RFC 6749 JSON with
/// `Cache-Control: no-store`; errors are RFC 6749 §5.2 codes.
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        example = "grant_type=password&username=alice&password=correct+horse+battery"),
    responses(
        (status = 200, description = "Token pair", body = Tokens),
        (status = 400, description = "`invalid_request`, `invalid_grant` or `unsupported_grant_type`", body = OAuthError),
        (status = 429, description = "Too many failed attempts; see `Retry-After`", body = OAuthError),
    )
)]
async fn token(State(app): State<AppState>, client: ClientInfo, req: Request) -> Result<Response, OAuthError> {
    let form: TokenForm = read_form(&app, req).await?;
    let _ = (&form.scope, &form.client_id, &form.client_secret);
    match form.grant_type.as_deref() {
        Some("password") => password_grant(&app, &form, &client).await,
        Some("refresh_token") => refresh_grant(&app, &form, &client).await,
        Some(_) => Err(OAuthError::bad("unsupported_grant_type", "supported: password, refresh_token")),
        None => Err(OAuthError::bad("invalid_request", "missing parameter `grant_type`")),
    }
}

async fn password_grant(app: &AppState, form: &TokenForm, client: &ClientInfo) -> Result<Response, OAuthError> {
    let username = require(&form.username, "username")?;
    let password = require(&form.password, "password")?;
    match app.accounts.login(username, password, client).await {
        Ok((_, pair)) => Ok(issued(pair)),
        Err(LoginError::InvalidCredentials) => {
            Err(OAuthError::bad("invalid_grant", "identifier or password is incorrect"))
        }
        Err(LoginError::Disabled) => Err(OAuthError::bad("invalid_grant", "the account is disabled")),
        Err(LoginError::RateLimited(retry)) => Err(OAuthError::rate_limited(retry)),
        Err(LoginError::Internal(err)) => Err(OAuthError::server(&err)),
    }
}

async fn refresh_grant(app: &AppState, form: &TokenForm, client: &ClientInfo) -> Result<Response, OAuthError> {
    let token = require(&form.refresh_token, "refresh_token")?;
    match app.accounts.refresh(token, client).await {
        Ok(pair) => Ok(issued(pair)),
        Err(RefreshError::Invalid) => {
            Err(OAuthError::bad("invalid_grant", "the refresh token is invalid or its session has ended"))
        }
        Err(RefreshError::Reused) => {
            Err(OAuthError::bad("invalid_grant", "the refresh token was already used; the session has been revoked"))
        }
        // RFC 6749 §5.2 has no code of its own for this; the session lives.
        Err(RefreshError::Concurrent) => Err(OAuthError::bad(
            "invalid_grant",
            "the refresh token was just rotated by another request; use the pair that request received",
        )),
        Err(RefreshError::RateLimited(retry)) => Err(OAuthError::rate_limited(retry)),
        Err(RefreshError::Internal(err)) => Err(OAuthError::server(&err)),
    }
}

/// OAuth 2.0 token revocation (RFC 7009).
///
/// Revoking either token of a pair ends its whole session. Unknown or invalid tokens are answered
/// with 200 too, as the RFC requires.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded",
        example = "token=pX3bQ2…&token_type_hint=refresh_token"),
    responses(
        (status = 200, description = "Revoked, or was not valid anyway"),
        (status = 400, description = "`invalid_request`: no `token`", body = OAuthError),
    )
)]
async fn revoke(State(app): State<AppState>, req: Request) -> Result<Response, OAuthError> {
    let form: RevokeForm = read_form(&app, req).await?;
    let _ = (&form.token_type_hint, &form.client_id);
    let token = require(&form.token, "token")?;
    app.accounts.revoke_token(token).await.map_err(|err| OAuthError::server(&err))?;
    Ok(no_store(StatusCode::OK.into_response()))
}
