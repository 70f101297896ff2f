//! What the socket gateways hear and say beyond the services' events: the commands clients send,
//! the error notice, and the catalogue of every event and command, from which the AsyncAPI
//! document is built, so it cannot drift from what is sent.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::chat::events::ChatEvent;
use crate::profile::ProfileEvent;
use crate::realtime::{EventDoc, Notice};

/// Client to server (Socket.IO): send a message, acknowledged with the stored message.
pub const CMD_MESSAGE_SEND: &str = "message.send";
/// Client to server: I am typing.
pub const CMD_TYPING: &str = "typing";
/// Client to server: move my read marker.
pub const CMD_CHAT_READ: &str = "chat.read";

crate::events! {
    /// What a gateway itself tells a connection.
    pub enum GatewayEvent {
        /// Something the client sent could not be acted on (unknown event, malformed frame).
        Error(SocketError) = "error", to: "The connection that sent it.",
    }
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

/// Every command a Socket.IO client may send, with what the acknowledgement carries.
pub fn commands() -> Vec<EventDoc> {
    vec![
        EventDoc::of::<SendCommand>(
            CMD_MESSAGE_SEND,
            "Send a message. With an acknowledgement callback, the reply is the JSend envelope the HTTP \
             route would answer: `{status: \"success\", data: {message}}` with the stored message, or \
             `{status: \"fail\", data: {…}}`.",
            "The server; the chat's members then hear `message.created`.",
        ),
        EventDoc::of::<TypingCommand>(
            CMD_TYPING,
            "Say that you are typing. Throttled per user; acknowledged with `{status: \"success\", data: null}`.",
            "The server; the chat's other members then hear `typing`.",
        ),
        EventDoc::of::<ReadCommand>(
            CMD_CHAT_READ,
            "Mark a chat read up to a message; acknowledged with `{status: \"success\", data: {chat_id, last_read_id, unread_count}}`.",
            "The server; your connections then hear `chat.read`.",
        ),
    ]
}

/// Every event the server sends, in the order the AsyncAPI document lists them.
pub fn catalogue() -> Vec<EventDoc> {
    [ProfileEvent::catalogue(), ChatEvent::catalogue(), Notice::catalogue(), GatewayEvent::catalogue()]
        .into_iter()
        .flatten()
        .collect()
}
