//! `/api/v1/chats/{id}/messages` and `/read`: history, sending, editing, deleting, likes,
//! forwarding and read markers. Every rule lives in [`crate::chat`].

use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::ApiJson;
use crate::app::AppState;
use crate::chat::view::MessageView;
use crate::chat::{HistoryView, ReadView, SendMessage, history_page, limit_rule};
use crate::domain::MessageText;
use crate::error::{AppError, FieldErrors};
use crate::http::ids::{ChatPath, MessagePath, ReactionPath};
use crate::http::principal::AuthUser;
use crate::store::Cursor;
use crate::web::{JSend, JSendFail, JsonBodyRefused, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history, send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(like, unlike))
        .routes(routes!(react, unreact))
        .routes(routes!(forward))
        .routes(routes!(mark_read))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageData {
    pub message: MessageView,
}

fn message_data(message: MessageView) -> JSend<MessageData> {
    JSend::ok(MessageData { message })
}

/// Where a history page starts and how long it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it field by field
struct HistoryQuery {
    /// Messages older than this message id (the previous page's `next_before`).
    before: Option<Uuid>,
    /// Messages newer than this message id (`next_after`), the oldest of them first in line.
    after: Option<Uuid>,
    /// 1–100 (larger values are capped); default 50.
    limit: Option<u64>,
}

/// Reads the history query, every problem keyed by its parameter.
fn parse_history_query(raw: Option<&str>) -> Result<(Cursor, u64), AppError> {
    let pairs = crate::web::query_pairs(raw)?;
    let mut errors = FieldErrors::new();
    let (mut before, mut after, mut limit) = (None, None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "before" | "after" => match value.parse::<Uuid>() {
                Ok(id) if key == "before" => before = Some(id),
                Ok(id) => after = Some(id),
                Err(_) => {
                    errors.insert(key, "must be a message id".into());
                }
            },
            "limit" => match value.parse::<u64>() {
                Ok(n) => limit = Some(n),
                Err(_) => {
                    errors.insert(key, limit_rule());
                }
            },
            _ => {}
        }
    }
    let page = history_page(before, after, limit, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok(page)
}

/// A page of a chat's history, newest first.
///
/// Pages are keyset ranges over time-ordered message ids, so messages arriving meanwhile cause
/// neither gaps nor repeats: follow `next_before` for older pages, `next_after` for newer ones.
/// Deleted messages appear as tombstones (`deleted: true`).
#[utoipa::path(
    get, path = "/chats/{id}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of messages", body = JSend<HistoryView>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "Bad `before`, `after` or `limit`", body = JSendFail,
            example = json!({"status": "fail", "data": {"limit": "must be a whole number from 1 to 100"}})),
    )
)]
async fn history(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    RawQuery(query): RawQuery,
) -> Result<JSend<HistoryView>, AppError> {
    let (cursor, limit) = parse_history_query(query.as_deref())?;
    Ok(JSend::ok(app.chats.history(me.user_id, chat_id, cursor, limit).await?))
}

/// Send a message.
///
/// Every member's connections hear `message.created`. With a `client_id` used before in this
/// chat, nothing new is sent: the first message comes back with 200.
#[utoipa::path(
    post, path = "/chats/{id}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    request_body = SendMessage,
    responses(
        (status = 201, description = "Sent", body = JSend<MessageData>),
        (status = 200, description = "Sent before with this `client_id`", body = JSend<MessageData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "Invalid fields", body = JSendFail,
            example = json!({"status": "fail", "data": {"text": "must be at most 4000 characters (it is 4312)"}})),
        (status = 429, description = "Too many messages; see `Retry-After`", body = JSendFail),
    )
)]
async fn send_message(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<JSend<MessageData>, AppError> {
    let (message, created) = app.chats.send_message(me.user_id, chat_id, body.draft()?).await?;
    Ok(if created { JSend::created(MessageData { message }) } else { message_data(message) })
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"text": "See you at nine?"}))]
struct Edit {
    /// 1–4000 characters, not blank.
    text: String,
}

/// Edit my message's text; it gets `edited_at`.
#[utoipa::path(
    patch, path = "/chats/{id}/messages/{mid}", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id")),
    request_body = Edit,
    responses(
        (status = 200, description = "Edited; members hear `message.updated`", body = JSend<MessageData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 403, description = "Not my message (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`)", body = JSendFail),
        (status = 422, description = "Invalid text", body = JSendFail),
    )
)]
async fn edit_message(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MessagePath(chat_id, message_id): MessagePath,
    ApiJson(body): ApiJson<Edit>,
) -> Result<JSend<MessageData>, AppError> {
    let text = MessageText::parse(&body.text).map_err(|m| AppError::invalid("text", m))?;
    Ok(message_data(app.chats.edit_message(me.user_id, chat_id, message_id, text).await?))
}

/// Delete a message (mine; in a group, the owner and admins may delete any), leaving a tombstone.
#[utoipa::path(
    delete, path = "/chats/{id}/messages/{mid}", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The tombstone (also when it was deleted before); members hear `message.deleted`", body = JSend<MessageData>),
        Unauthenticated,
        (status = 403, description = "Someone else's message and I am no owner or admin (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
    )
)]
async fn delete_message(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MessagePath(chat_id, message_id): MessagePath,
) -> Result<JSend<MessageData>, AppError> {
    Ok(message_data(app.chats.delete_message(me.user_id, chat_id, message_id).await?))
}

/// Like a message (once; liking again changes nothing).
#[utoipa::path(
    put, path = "/chats/{id}/messages/{mid}/like", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message with its like count; members hear `message.liked`", body = JSend<MessageData>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`)", body = JSendFail),
    )
)]
async fn like(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MessagePath(chat_id, message_id): MessagePath,
) -> Result<JSend<MessageData>, AppError> {
    Ok(message_data(app.chats.set_like(me.user_id, chat_id, message_id, true).await?))
}

/// Take my like back (unliking twice changes nothing).
#[utoipa::path(
    delete, path = "/chats/{id}/messages/{mid}/like", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message with its like count; members hear `message.unliked`", body = JSend<MessageData>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`)", body = JSendFail),
    )
)]
async fn unlike(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MessagePath(chat_id, message_id): MessagePath,
) -> Result<JSend<MessageData>, AppError> {
    Ok(message_data(app.chats.set_like(me.user_id, chat_id, message_id, false).await?))
}

/// React to a message with an emoji (reacting twice with one emoji changes nothing).
///
/// The emoji is one Unicode emoji, URL-encoded in the path (`%F0%9F%8E%89` for 🎉); skin tones
/// count as emoji of their own. A message holds at most 20 different emoji; the message comes
/// back with its `reactions` in order of first use.
#[utoipa::path(
    put, path = "/chats/{id}/messages/{mid}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id"),
        ("emoji" = String, Path, description = "One emoji, URL-encoded", example = "🎉"),
    ),
    responses(
        (status = 200, description = "The message with its reactions; members hear `message.reacted`", body = JSend<MessageData>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`), or holds 20 other emoji (`too_many_reactions`)", body = JSendFail),
        (status = 422, description = "Not one emoji", body = JSendFail,
            example = json!({"status": "fail", "data": {"emoji": "must be one emoji"}})),
    )
)]
async fn react(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ReactionPath(chat_id, message_id, emoji): ReactionPath,
) -> Result<JSend<MessageData>, AppError> {
    Ok(message_data(app.chats.set_reaction(me.user_id, chat_id, message_id, emoji, true).await?))
}

/// Take my emoji reaction back (doing it twice changes nothing).
#[utoipa::path(
    delete, path = "/chats/{id}/messages/{mid}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id"),
        ("emoji" = String, Path, description = "One emoji, URL-encoded", example = "🎉"),
    ),
    responses(
        (status = 200, description = "The message with its reactions; members hear `message.unreacted`", body = JSend<MessageData>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`)", body = JSendFail),
        (status = 422, description = "Not one emoji", body = JSendFail),
    )
)]
async fn unreact(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ReactionPath(chat_id, message_id, emoji): ReactionPath,
) -> Result<JSend<MessageData>, AppError> {
    Ok(message_data(app.chats.set_reaction(me.user_id, chat_id, message_id, emoji, false).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"to_chat_id": "01936b40-7f00-7a1b-8c2d-3e4f5a6b7c8d"}))]
struct Forward {
    /// A chat I am in.
    to_chat_id: Uuid,
}

/// Forward a message to another of my chats.
///
/// The copy has the same text and attachment, and `forwarded_from` names the original chat,
/// message and author (for a forward of a forward, the first one).
#[utoipa::path(
    post, path = "/chats/{id}/messages/{mid}/forward", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("mid" = Uuid, Path, description = "Message id")),
    request_body = Forward,
    responses(
        (status = 201, description = "The new message; the target's members hear `message.created`", body = JSend<MessageData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 404, description = "Either chat is not mine, or no such message", body = JSendFail),
        (status = 409, description = "The message was deleted (`message_deleted`)", body = JSendFail),
        (status = 422, description = "A system message", body = JSendFail),
        (status = 429, description = "Too many messages; see `Retry-After`", body = JSendFail),
    )
)]
async fn forward(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MessagePath(chat_id, message_id): MessagePath,
    ApiJson(body): ApiJson<Forward>,
) -> Result<JSend<MessageData>, AppError> {
    let message = app.chats.forward_message(me.user_id, chat_id, message_id, body.to_chat_id.into()).await?;
    Ok(JSend::created(MessageData { message }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b"}))]
struct ReadMarker {
    /// The newest message I have read; the marker never moves back.
    message_id: Uuid,
}

/// Mark a chat read up to a message.
#[utoipa::path(
    post, path = "/chats/{id}/read", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    request_body = ReadMarker,
    responses(
        (status = 200, description = "My read marker and unread count; the chat's members hear `chat.read`", body = JSend<ReadView>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 404, description = "No such chat of mine or message in it", body = JSendFail),
        (status = 422, description = "`message_id` missing or not an id", body = JSendFail),
    )
)]
async fn mark_read(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    ApiJson(body): ApiJson<ReadMarker>,
) -> Result<JSend<ReadView>, AppError> {
    Ok(JSend::ok(app.chats.mark_read(me.user_id, chat_id, body.message_id.into()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{DEFAULT_PAGE, MAX_PAGE};

    #[test]
    fn history_queries_are_read_and_refused_by_parameter() {
        assert_eq!(parse_history_query(None).unwrap(), (Cursor::Latest, DEFAULT_PAGE));
        let id = crate::domain::MessageId::new();
        assert_eq!(
            parse_history_query(Some(&format!("before={id}&limit=500"))).unwrap(),
            (Cursor::Before(id), MAX_PAGE)
        );
        let fields = |raw: &str| match parse_history_query(Some(raw)).unwrap_err() {
            AppError::Fields { fields, .. } => fields.into_keys().collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields("limit=0"), ["limit"]);
        assert_eq!(fields("limit=ten&before=x"), ["before", "limit"]);
        assert_eq!(fields(&format!("before={id}&after={id}")), ["after"]);
    }
}
