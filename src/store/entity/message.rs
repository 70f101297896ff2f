//! `messages`: everything said in a chat, including tombstones of deleted messages.

use crate::domain::{AttachmentId, ChatId, MessageId, MessageKind, SystemEvent, UserId};
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// UUID v7: ids sort by time, which history pages rely on.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: MessageId,
    pub chat_id: ChatId,
    /// `None` only for messages the server writes on nobody's behalf.
    pub author_id: Option<UserId>,
    /// `text`, `image`, `file` or `system`.
    pub kind: MessageKind,
    pub text: Option<String>,
    /// What a `system` message records.
    pub system: Option<SystemEvent>,
    pub attachment_id: Option<AttachmentId>,
    pub reply_to: Option<MessageId>,
    pub forwarded_chat_id: Option<ChatId>,
    pub forwarded_message_id: Option<MessageId>,
    pub forwarded_author_id: Option<UserId>,
    pub client_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: TimeDateTimeWithTimeZone,
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<TimeDateTimeWithTimeZone>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
