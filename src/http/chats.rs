//! `/api/v1/chats`: my chats, creating them, renaming, members and roles, pins, deletion.
//! Every rule lives in [`crate::chat`]; these handlers read the request and shape the answer.

use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{ApiJson, PageQuery, page_query};
use crate::app::AppState;
use crate::chat::view::ChatView;
use crate::chat::{DEFAULT_PAGE, MAX_PAGE, NewChat};
use crate::domain::{ChatTitle, Role};
use crate::error::AppError;
use crate::http::ids::{ChatPath, MemberPath};
use crate::http::principal::AuthUser;
use crate::store::{ChatCursor, Pin};
use crate::web::{JSend, JSendFail, JsonBodyRefused, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats, create_chat))
        .routes(routes!(get_chat, rename_chat, delete_chat))
        .routes(routes!(add_members))
        .routes(routes!(remove_member, change_role))
        .routes(routes!(pin_chat, unpin_chat))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatsData {
    /// Pinned first (in pin order), then by last activity, newest first.
    pub chats: Vec<ChatView>,
    /// Only when a page was asked for (`limit` or `after`): the `after` of the next page, or
    /// `null` on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable)]
    pub next_after: Option<Option<String>>,
}

/// A page of my chats.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it field by field
struct ChatsQuery {
    /// Chats after this cursor (the previous page's `next_after`).
    after: Option<String>,
    /// 1–100 (larger values are capped); default 50 when `after` is given.
    limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatData {
    pub chat: ChatView,
}

fn chat_data(chat: ChatView) -> JSend<ChatData> {
    JSend::ok(ChatData { chat })
}

/// My chats with their members, last message and unread count.
///
/// Pinned chats come first in the order I pinned them, then the rest by last activity. Without
/// parameters, every chat; with `limit` or `after`, one page of them and `next_after` for the
/// next (keyset pages: a page costs the same however many chats I am in). A chat that gets new
/// activity while I page moves to the top, where a fresh first page or the live events show it.
/// Either way the list takes a fixed number of database queries.
#[utoipa::path(
    get, path = "/chats", tag = "chats",
    security(("bearer" = [])),
    params(ChatsQuery),
    responses(
        (status = 200, description = "My chats", body = JSend<ChatsData>),
        Unauthenticated,
        (status = 422, description = "Bad `after` or `limit`", body = JSendFail,
            example = json!({"status": "fail", "data": {"after": "must be a next_after from an earlier page"}})),
    )
)]
async fn list_chats(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<JSend<ChatsData>, AppError> {
    let page = page_query(
        query.as_deref(),
        ChatCursor::decode,
        "must be a next_after from an earlier page",
        DEFAULT_PAGE,
        MAX_PAGE,
    )?;
    let Some(PageQuery { after, limit }) = page else {
        return Ok(JSend::ok(ChatsData { chats: app.chats.list_chats(me.user_id).await?, next_after: None }));
    };
    let (chats, next) = app.chats.chats_page(me.user_id, after, limit).await?;
    Ok(JSend::ok(ChatsData { chats, next_after: Some(next.map(ChatCursor::encode)) }))
}

/// Start a chat.
///
/// A direct chat is unique per pair: asking again returns the existing one with 200. A group
/// makes me its owner and records a `system` message; every member hears `chat.created`.
#[utoipa::path(
    post, path = "/chats", tag = "chats",
    security(("bearer" = [])),
    request_body = NewChat,
    responses(
        (status = 201, description = "Created", body = JSend<ChatData>),
        (status = 200, description = "The direct chat already existed", body = JSend<ChatData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 422, description = "Invalid fields", body = JSendFail,
            example = json!({"status": "fail", "data": {"user_id": "no such user"}})),
    )
)]
async fn create_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(body): ApiJson<NewChat>,
) -> Result<JSend<ChatData>, AppError> {
    let (chat, created) = app.chats.create_chat(me.user_id, body).await?;
    Ok(if created { JSend::created(ChatData { chat }) } else { chat_data(chat) })
}

/// One of my chats.
#[utoipa::path(
    get, path = "/chats/{id}", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    responses(
        (status = 200, description = "The chat", body = JSend<ChatData>),
        Unauthenticated,
        (status = 404, description = "No such chat, or I am not in it (`chat_not_found`)", body = JSendFail),
    )
)]
async fn get_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
) -> Result<JSend<ChatData>, AppError> {
    let (chat, member) = app.chats.member_of(chat_id, me.user_id).await?;
    Ok(chat_data(app.chats.chat_view(me.user_id, chat, member).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"title": "Book club (Thursdays)"}))]
struct Rename {
    /// 1–128 characters, one line.
    title: String,
}

/// Rename a group (owner or admin).
#[utoipa::path(
    patch, path = "/chats/{id}", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    request_body = Rename,
    responses(
        (status = 200, description = "Renamed; members hear `chat.updated` and a `system` message", body = JSend<ChatData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 403, description = "Not an owner or admin, or a direct chat (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "Invalid title", body = JSendFail),
    )
)]
async fn rename_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    ApiJson(body): ApiJson<Rename>,
) -> Result<JSend<ChatData>, AppError> {
    let title = ChatTitle::parse(&body.title).map_err(|m| AppError::invalid("title", m))?;
    Ok(chat_data(app.chats.rename_chat(me.user_id, chat_id, title).await?))
}

/// Delete a chat with its messages and attachments (a group: its owner; a direct chat: either
/// member).
#[utoipa::path(
    delete, path = "/chats/{id}", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    responses(
        (status = 200, description = "Deleted; members hear `chat.deleted`", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 403, description = "Not the group's owner (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
    )
)]
async fn delete_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
) -> Result<JSend<Option<String>>, AppError> {
    app.chats.delete_chat(me.user_id, chat_id).await?;
    Ok(JSend::ok(None))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": ["01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f"]}))]
struct AddMembers {
    /// At most 1000 per request; users already in the group are skipped.
    user_ids: Vec<Uuid>,
}

/// Add members to a group (owner or admin).
#[utoipa::path(
    post, path = "/chats/{id}/members", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    request_body = AddMembers,
    responses(
        (status = 200, description = "The group with its members; they hear `chat.created`, the others `chat.member_added`", body = JSend<ChatData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 403, description = "Not an owner or admin, or a direct chat (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "An unknown user", body = JSendFail),
    )
)]
async fn add_members(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    ApiJson(body): ApiJson<AddMembers>,
) -> Result<JSend<ChatData>, AppError> {
    Ok(chat_data(
        app.chats.add_members(me.user_id, chat_id, body.user_ids.into_iter().map(Into::into).collect()).await?,
    ))
}

/// Remove a member (owner: anyone but themself; admin: members), or leave (my own id).
///
/// An owner who leaves hands the group to the longest-standing admin, or else member; the
/// last one out deletes the group. Direct chats are not left but deleted.
#[utoipa::path(
    delete, path = "/chats/{id}/members/{user_id}", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("user_id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, description = "Removed; members hear `chat.member_removed`", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 403, description = "The role does not allow it (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine (`chat_not_found`) or member (`member_not_found`)", body = JSendFail),
        (status = 409, description = "A direct chat (`direct_chat`)", body = JSendFail),
    )
)]
async fn remove_member(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MemberPath(chat_id, user_id): MemberPath,
) -> Result<JSend<Option<String>>, AppError> {
    app.chats.remove_member(me.user_id, chat_id, user_id).await?;
    Ok(JSend::ok(None))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"role": "admin"}))]
struct RoleChange {
    /// `member`, `admin`, or `owner` (hands the group over: I become an admin).
    role: String,
}

/// Change a member's role (owner only).
#[utoipa::path(
    patch, path = "/chats/{id}/members/{user_id}", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id"), ("user_id" = Uuid, Path, description = "Member id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The group with the new roles; members hear `chat.updated`", body = JSend<ChatData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 403, description = "Not the owner (`not_allowed`)", body = JSendFail),
        (status = 404, description = "No such chat of mine (`chat_not_found`) or member (`member_not_found`)", body = JSendFail),
        (status = 422, description = "Unknown role, or my own", body = JSendFail),
    )
)]
async fn change_role(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    MemberPath(chat_id, user_id): MemberPath,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<JSend<ChatData>, AppError> {
    let role = Role::parse(&body.role).ok_or_else(|| AppError::invalid("role", "must be member, admin or owner"))?;
    Ok(chat_data(app.chats.set_role(me.user_id, chat_id, user_id, role).await?))
}

/// Where a pin goes: `{"position": 0}` puts the chat first among my pins.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct PinPlace {
    /// Its place among my pins, from 0; past the end means last. Absent: after my other pins,
    /// or where it is if it is already pinned.
    position: Option<u32>,
}

/// Pin a chat for me, or move a pinned chat among my pins.
///
/// With no body (or no `position`), the chat goes after my other pins, and a chat already pinned
/// keeps its place. With `{"position": n}` it goes to place `n` (from 0) and the pins after it
/// move down one.
#[utoipa::path(
    put, path = "/chats/{id}/pin", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    request_body(content = Option<PinPlace>, content_type = "application/json"),
    responses(
        (status = 200, description = "Pinned (also when it already was)", body = JSend<ChatData>),
        JsonBodyRefused,
        Unauthenticated,
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "`position` not a whole number from 0", body = JSendFail),
    )
)]
async fn pin_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
    body: Option<ApiJson<PinPlace>>,
) -> Result<JSend<ChatData>, AppError> {
    let place = body.map(|ApiJson(place)| place).unwrap_or_default();
    let pin = place.position.map_or(Pin::Last, |position| Pin::At(position as usize));
    Ok(chat_data(app.chats.pin_chat(me.user_id, chat_id, pin).await?))
}

/// Unpin a chat for me.
#[utoipa::path(
    delete, path = "/chats/{id}/pin", tag = "chats",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    responses(
        (status = 200, description = "Unpinned (also when it was not pinned)", body = JSend<ChatData>),
        Unauthenticated,
        (status = 404, description = "No such chat of mine (`chat_not_found`)", body = JSendFail),
    )
)]
async fn unpin_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(chat_id): ChatPath,
) -> Result<JSend<ChatData>, AppError> {
    Ok(chat_data(app.chats.pin_chat(me.user_id, chat_id, Pin::Off).await?))
}
