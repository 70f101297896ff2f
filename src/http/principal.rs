//! Who is calling and from where: the `AuthUser` and `ClientInfo` extractors, the one way a
//! handler learns either.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::auth::{AuthFailure, ClientInfo, Principal};
use crate::error::AppError;
use crate::telemetry::RequestUser;
use crate::web::bearer_token;

/// The authenticated caller. Refuses with 401 and `WWW-Authenticate: Bearer` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(AuthFailure::Missing)?;
        let principal = state.auth.authenticate(token).await?;
        if let Some(slot) = parts.extensions.get::<RequestUser>() {
            slot.set(principal.user_id.uuid());
        }
        Ok(Self(principal))
    }
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
