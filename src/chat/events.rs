//! The events the messenger raises, with their names and payloads. The gateways' AsyncAPI
//! catalogue lists them; `App::emit` sends them.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::view::{ChatView, MemberView, MessageView};

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
