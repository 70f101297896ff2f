//! Ids in the path, parsed by extractors: a malformed id answers the JSend 404 of the thing it
//! names, as an unknown one would, so no route writes the parse and the refusal again.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::auth::accounts::session_not_found;
use crate::chat::{chat_not_found, member_not_found, message_not_found};
use crate::domain::{ChatId, Emoji, MessageId, SessionId, UserId};
use crate::error::AppError;
use crate::profile::user_not_found;

/// `/chats/{id}/…`
pub struct ChatPath(pub ChatId);
/// `/chats/{id}/messages/{mid}/…`: the chat, then the message.
pub struct MessagePath(pub ChatId, pub MessageId);
/// `/chats/{id}/members/{user_id}`: the chat, then the member.
pub struct MemberPath(pub ChatId, pub UserId);
/// `/chats/{id}/messages/{mid}/reactions/{emoji}`: the chat, the message, and the emoji
/// (URL-encoded in the path), refused with a 422 keyed `emoji` unless it is one emoji.
pub struct ReactionPath(pub ChatId, pub MessageId, pub Emoji);
/// `/users/{id}`
pub struct UserPath(pub UserId);
/// `/me/sessions/{id}`
pub struct SessionPath(pub SessionId);

/// The route's path parameters in order, each parsed as a UUID or refused with its own 404.
async fn ids<S: Send + Sync, const N: usize>(
    parts: &mut Parts,
    state: &S,
    refusals: [fn() -> AppError; N],
) -> Result<[Uuid; N], AppError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| AppError::not_found("route_not_found", "no such route"))?;
    let mut values = params.iter().map(|(_, value)| value);
    let mut ids = [Uuid::nil(); N];
    for (id, refuse) in ids.iter_mut().zip(refusals) {
        *id = values.next().and_then(|raw| raw.parse().ok()).ok_or_else(refuse)?;
    }
    Ok(ids)
}

impl<S: Send + Sync> FromRequestParts<S> for ChatPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [chat] = ids(parts, state, [chat_not_found]).await?;
        Ok(Self(chat.into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MessagePath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [chat, message] = ids(parts, state, [chat_not_found, message_not_found]).await?;
        Ok(Self(chat.into(), message.into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReactionPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let not_one = |message| AppError::invalid("emoji", message);
        // Percent-decoded; what does not decode to UTF-8 can only be a bad emoji (ids are ASCII).
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| not_one("must be one emoji"))?;
        let raw = params.iter().nth(2).map(|(_, value)| value).unwrap_or_default();
        let emoji = Emoji::parse(raw).map_err(not_one);
        let [chat, message] = ids(parts, state, [chat_not_found, message_not_found]).await?;
        Ok(Self(chat.into(), message.into(), emoji?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [chat, member] = ids(parts, state, [chat_not_found, member_not_found]).await?;
        Ok(Self(chat.into(), member.into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [user] = ids(parts, state, [user_not_found]).await?;
        Ok(Self(user.into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [session] = ids(parts, state, [session_not_found]).await?;
        Ok(Self(session.into()))
    }
}

/// `/admin/messages/{id}`: a message wherever it is.
pub struct AnyMessagePath(pub MessageId);

impl<S: Send + Sync> FromRequestParts<S> for AnyMessagePath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let [message] = ids(parts, state, [message_not_found]).await?;
        Ok(Self(message.into()))
    }
}
