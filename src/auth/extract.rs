//! Request extractors: the one way a handler learns who is calling and from where.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::{AuthFailure, Principal};
use crate::app::AppState;
use crate::error::AppError;
use crate::telemetry::RequestUser;

/// The authenticated caller. Refuses with 401 and `WWW-Authenticate: Bearer` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AuthFailure::Missing)?;
        let principal = state.auth.authenticate(token).await?;
        if let Some(slot) = parts.extensions.get::<RequestUser>() {
            slot.set(principal.user_id);
        }
        Ok(Self(principal))
    }
}

/// 401 with `WWW-Authenticate: Bearer` and the failure's reason.
impl From<AuthFailure> for AppError {
    fn from(failure: AuthFailure) -> Self {
        AppError::unauthorized(failure.reason(), failure.message())
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller's address and user agent, for sessions and rate limits.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
            .flatten();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(Self { ip: forwarded.or(peer).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), user_agent })
    }
}
