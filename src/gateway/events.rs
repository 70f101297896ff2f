//! What the socket gateways hear and say beyond the services' events: the commands clients send,
//! the error notice, and the catalogue of every event and command, from which the AsyncAPI
//! document is built, so it cannot drift from what is sent.

use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::chat::events::*;
use crate::profile::{AVATAR_UPDATED, AvatarUpdated};
use crate::realtime::events::{SESSION_REVOKED, SessionRevoked, USER_DELETED, UserDeleted};

/// Client to server (Socket.IO): send a message, acknowledged with the stored message.
pub const CMD_MESSAGE_SEND: &str = "message.send";
pub const ERROR: &str = "error";

/// The server could not act on something the client sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"reason": "unknown_event", "message": "no such event: `hello`"}))]
pub struct SocketError {
    /// Stable snake_case code for programs.
    pub reason: &'static str,
    /// For people.
    pub message: String,
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
