//! `/api/v1/admin/…`: the operator's operations as JSON, for administrators' bearer tokens.
//! Every rule, the admin check included, lives in [`crate::admin`]; non-admins get 404.

use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::admin::query::{AuditQuery, ChatQuery, MessageQuery, UserQuery};
use crate::admin::{AdminChatDetail, AdminChatView, AuditView};
use crate::app::{App, AppState};
use crate::chat::view::MessageView;
use crate::domain::User;
use crate::error::AppError;
use crate::http::ids::{AnyMessagePath, ChatPath, UserPath};
use crate::http::me::{SessionView, UserView};
use crate::http::principal::AuthUser;
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list_users))
        .routes(routes!(admin_get_user, admin_delete_user))
        .routes(routes!(admin_deactivate))
        .routes(routes!(admin_reactivate))
        .routes(routes!(admin_list_chats))
        .routes(routes!(admin_get_chat, admin_delete_chat))
        .routes(routes!(admin_list_messages))
        .routes(routes!(admin_delete_message))
        .routes(routes!(admin_list_audit))
}

/// An account as administrators see it: the profile, the role and whether it may sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub is_admin: bool,
    /// `false` once deactivated: it cannot sign in and has no sessions.
    pub is_active: bool,
}

impl AdminUserView {
    fn new(app: &App, user: User) -> Self {
        let (is_admin, is_active) = (user.is_admin, user.is_active);
        Self { user: UserView::new(app, user), is_admin, is_active }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserData {
    pub user: AdminUserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDetail {
    pub user: AdminUserView,
    /// Its signed-in devices and browsers, newest first.
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUsersPage {
    pub users: Vec<AdminUserView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminChatsPage {
    pub chats: Vec<AdminChatView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminChatData {
    pub chat: AdminChatDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminMessagesPage {
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    pub next_before: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminMessageData {
    pub message: MessageView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    pub next_before: Option<Uuid>,
}

fn user_data(app: &App, user: User) -> JSend<AdminUserData> {
    JSend::ok(AdminUserData { user: AdminUserView::new(app, user) })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; `UserQuery::parse` reads it
struct UsersParams {
    /// Part of a username, e-mail or phone, in any case.
    q: Option<String>,
    /// The previous page's `next_after`.
    after: Option<Uuid>,
    /// 1–100; default 50.
    limit: Option<u64>,
}

/// Find accounts: all of them, oldest first, or those whose username, e-mail or phone contains
/// `q`. Keyset pages: follow `next_after`.
#[utoipa::path(
    get, path = "/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(UsersParams),
    responses(
        (status = 200, description = "A page of accounts", body = JSend<AdminUsersPage>),
        Unauthenticated,
        (status = 404, description = "Not an administrator", body = JSendFail),
        (status = 422, description = "A malformed parameter, named in `data`", body = JSendFail),
    )
)]
async fn admin_list_users(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<JSend<AdminUsersPage>, AppError> {
    app.admin.require(me.user_id).await?;
    let query = UserQuery::parse(raw.as_deref())?;
    let page = app.admin.users(me.user_id, query.q.as_deref(), query.after, query.limit).await?;
    let next_after = page.more.then(|| page.items.last().map(|u| u.id.uuid())).flatten();
    let users = page.items.into_iter().map(|u| AdminUserView::new(&app, u)).collect();
    Ok(JSend::ok(AdminUsersPage { users, next_after }))
}

/// One account with its sessions.
#[utoipa::path(
    get, path = "/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = JSend<AdminUserDetail>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
    )
)]
async fn admin_get_user(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<AdminUserDetail>, AppError> {
    let (user, sessions) = app.admin.user(me.user_id, id).await?;
    let sessions = sessions.into_iter().map(|s| SessionView::new(s, None)).collect();
    Ok(JSend::ok(AdminUserDetail { user: AdminUserView::new(&app, user), sessions }))
}

/// Delete an account as its owner would: sessions, sockets, group memberships and avatar go at
/// once; its direct chats stay for the other person. Audited with you as the actor.
#[utoipa::path(
    delete, path = "/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deleted", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
        (status = 409, description = "Your own account (`own_account`): delete it from your profile", body = JSendFail),
    )
)]
async fn admin_delete_user(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<Option<String>>, AppError> {
    app.admin.delete_user(me.user_id, id).await?;
    Ok(JSend::ok(None))
}

/// Deactivate an account: it cannot sign in by API or site, and every session and socket of it
/// ends at once, on every instance. Audited.
#[utoipa::path(
    post, path = "/admin/users/{id}/deactivate", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deactivated (or already was)", body = JSend<AdminUserData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
        (status = 409, description = "Your own account (`own_account`)", body = JSendFail),
    )
)]
async fn admin_deactivate(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<AdminUserData>, AppError> {
    let user = app.admin.deactivate(me.user_id, id).await?;
    Ok(user_data(&app, user))
}

/// Let a deactivated account sign in again. Audited.
#[utoipa::path(
    post, path = "/admin/users/{id}/reactivate", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Active (or already was)", body = JSend<AdminUserData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
    )
)]
async fn admin_reactivate(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<AdminUserData>, AppError> {
    let user = app.admin.reactivate(me.user_id, id).await?;
    Ok(user_data(&app, user))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; `ChatQuery::parse` reads it
struct ChatsParams {
    /// The previous page's `next_after`.
    after: Option<Uuid>,
    /// 1–100; default 50.
    limit: Option<u64>,
}

/// Every chat, direct and group, oldest first, with its number of members.
#[utoipa::path(
    get, path = "/admin/chats", tag = "admin",
    security(("bearer" = [])),
    params(ChatsParams),
    responses(
        (status = 200, description = "A page of chats", body = JSend<AdminChatsPage>),
        Unauthenticated,
        (status = 404, description = "Not an administrator", body = JSendFail),
        (status = 422, description = "A malformed parameter, named in `data`", body = JSendFail),
    )
)]
async fn admin_list_chats(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<JSend<AdminChatsPage>, AppError> {
    app.admin.require(me.user_id).await?;
    let query = ChatQuery::parse(raw.as_deref())?;
    let page = app.admin.chats(me.user_id, query.after, query.limit).await?;
    let next_after = page.more.then(|| page.items.last().map(|c| c.id)).flatten();
    Ok(JSend::ok(AdminChatsPage { chats: page.items, next_after }))
}

/// One chat with its members and their roles.
#[utoipa::path(
    get, path = "/admin/chats/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    responses(
        (status = 200, description = "The chat", body = JSend<AdminChatData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such chat", body = JSendFail),
    )
)]
async fn admin_get_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(id): ChatPath,
) -> Result<JSend<AdminChatData>, AppError> {
    Ok(JSend::ok(AdminChatData { chat: app.admin.chat(me.user_id, id).await? }))
}

/// Delete a chat with its messages; its members hear `chat.deleted` as when its owner deletes
/// it. Audited with you as the actor.
#[utoipa::path(
    delete, path = "/admin/chats/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Chat id")),
    responses(
        (status = 200, description = "Deleted", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such chat", body = JSendFail),
    )
)]
async fn admin_delete_chat(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ChatPath(id): ChatPath,
) -> Result<JSend<Option<String>>, AppError> {
    app.admin.delete_chat(me.user_id, id).await?;
    Ok(JSend::ok(None))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; `MessageQuery::parse` reads it
struct MessagesParams {
    /// Only this chat's messages.
    chat_id: Option<Uuid>,
    /// Only this person's messages.
    author_id: Option<Uuid>,
    /// The previous page's `next_before`.
    before: Option<Uuid>,
    /// 1–100; default 50.
    limit: Option<u64>,
}

/// Find messages by chat, author or both, newest first, tombstones included.
#[utoipa::path(
    get, path = "/admin/messages", tag = "admin",
    security(("bearer" = [])),
    params(MessagesParams),
    responses(
        (status = 200, description = "A page of messages", body = JSend<AdminMessagesPage>),
        Unauthenticated,
        (status = 404, description = "Not an administrator", body = JSendFail),
        (status = 422, description = "A malformed parameter, named in `data`", body = JSendFail),
    )
)]
async fn admin_list_messages(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<JSend<AdminMessagesPage>, AppError> {
    app.admin.require(me.user_id).await?;
    let query = MessageQuery::parse(raw.as_deref())?;
    let page = app.admin.messages(me.user_id, query.chat_id, query.author_id, query.before, query.limit).await?;
    let next_before = page.more.then(|| page.items.last().map(|m| m.id)).flatten();
    Ok(JSend::ok(AdminMessagesPage { messages: page.items, next_before }))
}

/// Moderate a message: it becomes a tombstone in its chat, whose members hear
/// `message.deleted`; the audit log keeps its text and who removed it.
#[utoipa::path(
    delete, path = "/admin/messages/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The tombstone (also if it already was one)", body = JSend<AdminMessageData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such message", body = JSendFail),
    )
)]
async fn admin_delete_message(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    AnyMessagePath(id): AnyMessagePath,
) -> Result<JSend<AdminMessageData>, AppError> {
    Ok(JSend::ok(AdminMessageData { message: app.admin.delete_message(me.user_id, id).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; `AuditQuery::parse` reads it
struct AuditParams {
    /// `user`, `session`, `chat`, `chat_member`, `message`, `attachment`, …
    entity: Option<String>,
    /// The record's id (`<chat id>:<user id>` for a `chat_member`).
    entity_id: Option<String>,
    /// Who made the change.
    actor_id: Option<Uuid>,
    /// `create`, `update`, `delete`, `deactivate`, `reactivate`, `rename`, `login`, …
    action: Option<String>,
    /// At or after this time (RFC 3339).
    since: Option<String>,
    /// Before this time (RFC 3339).
    until: Option<String>,
    /// The previous page's `next_before`.
    before: Option<Uuid>,
    /// 1–100; default 50.
    limit: Option<u64>,
}

/// The audit log: every change of every record, newest first, each with who made it, when, the
/// record before and after (never a secret) and the fields that differ. Every given filter must
/// match. Keyset pages: follow `next_before`.
#[utoipa::path(
    get, path = "/admin/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of audit entries", body = JSend<AuditPage>),
        Unauthenticated,
        (status = 404, description = "Not an administrator", body = JSendFail),
        (status = 422, description = "A malformed parameter, named in `data`", body = JSendFail),
    )
)]
async fn admin_list_audit(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<JSend<AuditPage>, AppError> {
    app.admin.require(me.user_id).await?;
    let query = AuditQuery::parse(raw.as_deref())?;
    let page = app.admin.audit(me.user_id, &query.filter, query.before, query.limit).await?;
    let next_before = page.more.then(|| page.items.last().map(|e| e.id)).flatten();
    Ok(JSend::ok(AuditPage { entries: page.items, next_before }))
}
