//! The events Parlor sends over sockets: names, payloads and who receives them. The AsyncAPI
//! document is built from [`catalogue`], so it cannot drift from what is sent.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::chat::view::{ChatView, MemberView, MessageView};
use crate::media::AvatarUrls;

/// A user's avatar changed or was removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "user_id": "01936b2e-8f7c-7cc3-a2e1-4bd2f1d0c9aa",
    "avatar": {
        "original": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/original.jpg",
        "50x50": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/50x50.jpg",
        "100x100": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/100x100.jpg",
        "400x400": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/400x400.jpg"
    },
    "at": "2026-11-21T10:15:02.481516Z"
}))]
pub struct AvatarUpdated {
    pub user_id: Uuid,
    /// The new avatar's URLs, or `null` when it was removed.
    pub avatar: Option<AvatarUrls>,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// This connection's session has ended (logout, revocation, password change or reset); the
/// server closes the connection right after this event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"session_id": "01936b2f-0a41-7b9e-8d52-3c1f6e2b7d10"}))]
pub struct SessionRevoked {
    pub session_id: Uuid,
}

/// The account was deleted; the server closes every connection of it right after this event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"user_id": "01936b2e-8f7c-7cc3-a2e1-4bd2f1d0c9aa"}))]
pub struct UserDeleted {
    pub user_id: Uuid,
}

/// The server could not act on something the client sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"reason": "unknown_event", "message": "no such event: `hello`"}))]
pub struct SocketError {
    /// Stable snake_case code for programs.
    pub reason: &'static str,
    /// For people.
    pub message: String,
}

/// A chat appeared for me: I created it or was added to it. Also the payload of `chat.updated`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatChanged {
    /// `pinned` and `unread_count` are each reader's own and come as `false` and `0`.
    pub chat: ChatView,
}

/// A chat was deleted with all its messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "by": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10"}))]
pub struct ChatDeleted {
    pub chat_id: Uuid,
    /// Who deleted it.
    pub by: Uuid,
}

/// Members joined a group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembersAdded {
    pub chat_id: Uuid,
    pub members: Vec<MemberView>,
    /// Who added them.
    pub by: Uuid,
}

/// A member left or was removed (`by` is then someone else).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f",
    "by": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10"
}))]
pub struct MemberRemoved {
    pub chat_id: Uuid,
    pub user_id: Uuid,
    pub by: Uuid,
}

/// A message was sent (by a member, or by the server: `type: system`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageCreated {
    /// `liked_by_me` is each reader's own and comes as `false`.
    pub message: MessageView,
}

/// A message's text was edited.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "text": "See you at nine?", "edited_at": "2026-11-21T10:16:40.102030Z"
}))]
pub struct MessageUpdated {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub text: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub edited_at: OffsetDateTime,
}

/// A message was deleted; it stays in the history as a tombstone.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "by": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10"
}))]
pub struct MessageDeleted {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub by: Uuid,
}

/// Someone liked or unliked a message. The payload of `message.liked` and `message.unliked`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f", "like_count": 2
}))]
pub struct LikeChanged {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    /// The count right after this change.
    pub like_count: u64,
}

/// Someone is typing in a chat. Clients show it for a few seconds unless it comes again.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f"}))]
pub struct Typing {
    pub chat_id: Uuid,
    pub user_id: Uuid,
}

/// I read a chat up to a message, on one of my devices.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "unread_count": 0
}))]
pub struct ChatRead {
    pub chat_id: Uuid,
    /// My read marker now.
    pub message_id: Uuid,
    pub unread_count: u64,
}

/// `message.send`: send a message, as `POST /api/v1/chats/{chat_id}/messages` would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "text": "See you at eight?", "client_id": "a1b2c3"}))]
pub struct SendCommand {
    pub chat_id: Uuid,
    #[serde(flatten)]
    pub message: crate::chat::SendMessage,
}

/// `typing`: tell the chat's other members that I am typing (repeat every few seconds).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f"}))]
pub struct TypingCommand {
    pub chat_id: Uuid,
}

/// `chat.read`: move my read marker, as `POST /api/v1/chats/{chat_id}/read` would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b"}))]
pub struct ReadCommand {
    pub chat_id: Uuid,
    pub message_id: Uuid,
}

pub const AVATAR_UPDATED: &str = "user.avatar_updated";
pub const CHAT_CREATED: &str = "chat.created";
pub const CHAT_UPDATED: &str = "chat.updated";
pub const CHAT_DELETED: &str = "chat.deleted";
pub const CHAT_MEMBER_ADDED: &str = "chat.member_added";
pub const CHAT_MEMBER_REMOVED: &str = "chat.member_removed";
pub const CHAT_READ: &str = "chat.read";
pub const MESSAGE_CREATED: &str = "message.created";
pub const MESSAGE_UPDATED: &str = "message.updated";
pub const MESSAGE_DELETED: &str = "message.deleted";
pub const MESSAGE_LIKED: &str = "message.liked";
pub const MESSAGE_UNLIKED: &str = "message.unliked";
pub const TYPING: &str = "typing";
/// Client to server (Socket.IO): send a message, acknowledged with the stored message.
pub const CMD_MESSAGE_SEND: &str = "message.send";
pub const SESSION_REVOKED: &str = "session.revoked";
pub const USER_DELETED: &str = "user.deleted";
pub const ERROR: &str = "error";

/// One entry of the event catalogue.
pub struct EventDoc {
    pub name: &'static str,
    pub summary: &'static str,
    /// Who receives it.
    pub audience: &'static str,
    pub payload_name: std::borrow::Cow<'static, str>,
    pub payload: fn() -> RefOr<Schema>,
    /// The schemas the payload refers to, by name.
    pub nested: fn(&mut Vec<(String, RefOr<Schema>)>),
    pub example: fn() -> Option<serde_json::Value>,
}

fn doc<T: ToSchema>(name: &'static str, summary: &'static str, audience: &'static str) -> EventDoc {
    EventDoc {
        name,
        summary,
        audience,
        payload_name: T::name(),
        payload: T::schema,
        nested: T::schemas,
        example: example_of::<T>,
    }
}

/// The schema-level example of `T`, which utoipa keeps on the schema object.
fn example_of<T: PartialSchema>() -> Option<serde_json::Value> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.examples.first().cloned(),
        _ => None,
    }
}

/// Every command a Socket.IO client may send, with what the acknowledgement carries.
pub fn commands() -> Vec<EventDoc> {
    vec![
        doc::<SendCommand>(
            CMD_MESSAGE_SEND,
            "Send a message. With an acknowledgement callback, the reply is the JSend envelope the HTTP \
             route would answer: `{status: \"success\", data: {message}}` with the stored message, or \
             `{status: \"fail\", data: {…}}`.",
            "The server; the chat's members then hear `message.created`.",
        ),
        doc::<TypingCommand>(
            TYPING,
            "Say that you are typing. Throttled per user; acknowledged with `{status: \"success\", data: null}`.",
            "The server; the chat's other members then hear `typing`.",
        ),
        doc::<ReadCommand>(
            CHAT_READ,
            "Mark a chat read up to a message; acknowledged with `{status: \"success\", data: {chat_id, last_read_id, unread_count}}`.",
            "The server; your connections then hear `chat.read`.",
        ),
    ]
}

/// Every event the server sends, in the order the AsyncAPI document lists them.
pub fn catalogue() -> Vec<EventDoc> {
    vec![
        doc::<AvatarUpdated>(
            AVATAR_UPDATED,
            "A user's avatar changed or was removed.",
            "Every connection of that user and of everyone who shares a chat with them.",
        ),
        doc::<ChatChanged>(
            CHAT_CREATED,
            "A chat appeared for you: you created it, opened a direct chat, or were added to a group.",
            "Every member of the new chat (for an added member: that member).",
        ),
        doc::<ChatChanged>(
            CHAT_UPDATED,
            "A group was renamed or its roles changed (including an owner handing over).",
            "Every member of the chat.",
        ),
        doc::<ChatDeleted>(CHAT_DELETED, "A chat was deleted with its messages.", "Every member it had."),
        doc::<MembersAdded>(
            CHAT_MEMBER_ADDED,
            "Members were added to a group.",
            "Every member of the chat, the new ones included.",
        ),
        doc::<MemberRemoved>(
            CHAT_MEMBER_REMOVED,
            "A member left or was removed; from then on they hear nothing of the chat.",
            "Every remaining member, and the one who left or was removed.",
        ),
        doc::<MessageCreated>(
            MESSAGE_CREATED,
            "A message was sent, or the server recorded a change (`type: system`).",
            "Every member of the chat, the sender's own connections included.",
        ),
        doc::<MessageUpdated>(MESSAGE_UPDATED, "A message's text was edited.", "Every member of the chat."),
        doc::<MessageDeleted>(
            MESSAGE_DELETED,
            "A message was deleted and is now a tombstone.",
            "Every member of the chat.",
        ),
        doc::<LikeChanged>(MESSAGE_LIKED, "Someone liked a message.", "Every member of the chat."),
        doc::<LikeChanged>(MESSAGE_UNLIKED, "Someone took a like back.", "Every member of the chat."),
        doc::<Typing>(TYPING, "Someone is typing.", "Every other member of the chat."),
        doc::<ChatRead>(
            CHAT_READ,
            "You read a chat up to a message on one of your devices; unread counts follow.",
            "Every connection of yours.",
        ),
        doc::<SessionRevoked>(
            SESSION_REVOKED,
            "The connection's session ended; the connection is closed right after.",
            "The connections of that session, on every instance.",
        ),
        doc::<UserDeleted>(
            USER_DELETED,
            "The account was deleted; every connection of it is closed right after.",
            "Every connection of that user, on every instance.",
        ),
        doc::<SocketError>(
            ERROR,
            "Something the client sent could not be acted on (unknown event, malformed frame).",
            "The connection that sent it.",
        ),
    ]
}
