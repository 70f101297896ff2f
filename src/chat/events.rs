//! The events the messenger raises: [`ChatEvent`] names each one and its payload, and is what
//! [`crate::realtime::Realtime::emit`] sends and the gateways' AsyncAPI document lists.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::view::{ChatView, MemberView, MessageView};

crate::events! {
    /// What the messenger tells the members of a chat.
    pub enum ChatEvent {
        /// A chat appeared for you: you created it, opened a direct chat, or were added to a group.
        Created(ChatChanged) = "chat.created",
            to: "Every member of the new chat (for an added member: that member).",
        /// A group was renamed or its roles changed (including an owner handing over).
        Updated(ChatChanged) = "chat.updated", to: "Every member of the chat.",
        /// A chat was deleted with its messages.
        Deleted(ChatDeleted) = "chat.deleted", to: "Every member it had.",
        /// Members were added to a group.
        MembersAdded(MembersAdded) = "chat.member_added", to: "Every member of the chat, the new ones included.",
        /// A member left or was removed; from then on they hear nothing of the chat.
        MemberRemoved(MemberRemoved) = "chat.member_removed",
            to: "Every remaining member, and the one who left or was removed.",
        /// A message was sent, or the server recorded a change (`type: system`).
        MessageCreated(MessageCreated) = "message.created",
            to: "Every member of the chat, the sender's own connections included.",
        /// A message's text was edited.
        MessageUpdated(MessageUpdated) = "message.updated", to: "Every member of the chat.",
        /// A message was deleted and is now a tombstone.
        MessageDeleted(MessageDeleted) = "message.deleted", to: "Every member of the chat.",
        /// Someone liked a message.
        MessageLiked(LikeChanged) = "message.liked", to: "Every member of the chat.",
        /// Someone took a like back.
        MessageUnliked(LikeChanged) = "message.unliked", to: "Every member of the chat.",
        /// Someone reacted to a message with an emoji.
        MessageReacted(ReactionChanged) = "message.reacted", to: "Every member of the chat.",
        /// Someone took an emoji reaction back.
        MessageUnreacted(ReactionChanged) = "message.unreacted", to: "Every member of the chat.",
        /// Someone is typing.
        Typing(Typing) = "typing", to: "Every other member of the chat.",
        /// A member read a chat up to a message (a read receipt); for your own reads, on any of
        /// your devices, it carries your unread count.
        Read(ChatRead) = "chat.read", to: "Every member of the chat, the reader's own connections included.",
    }
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
    "text": "See you at nine?", "mentions": [], "edited_at": "2026-11-21T10:16:40.102030Z"
}))]
pub struct MessageUpdated {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub text: Option<String>,
    /// Whom the text mentions now.
    pub mentions: Vec<Uuid>,
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

/// Someone reacted or took a reaction back. The payload of `message.reacted` and
/// `message.unreacted`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f", "emoji": "🎉", "count": 3
}))]
pub struct ReactionChanged {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub emoji: String,
    /// How many reacted with this emoji right after this change.
    pub count: u64,
}

/// Someone is typing in a chat. Clients show it for a few seconds unless it comes again.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f"}))]
pub struct Typing {
    pub chat_id: Uuid,
    pub user_id: Uuid,
}

/// A member read a chat up to a message, on one of their devices.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "user_id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10",
    "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "unread_count": 0, "mention_count": 0
}))]
pub struct ChatRead {
    pub chat_id: Uuid,
    /// Who read.
    pub user_id: Uuid,
    /// Their read marker now (`last_read_message_id` on the member).
    pub message_id: Uuid,
    /// The reader's unread count in the chat: only in the event to the reader's own connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<u64>,
    /// Of those, the ones that mention the reader: likewise only to the reader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_count: Option<u64>,
}
