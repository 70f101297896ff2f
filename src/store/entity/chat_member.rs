//! `chat_members`: who is in which chat, with their role, read marker, unread and mention counts and pin.

use crate::domain::{ChatId, MessageId, Role, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chat_id: ChatId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: UserId,
    /// `owner`, `admin` or `member`.
    pub role: Role,
    pub joined_at: TimeDateTimeWithTimeZone,
    /// The newest message the member has read.
    pub last_read_id: Option<MessageId>,
    /// Set while the member has the chat pinned; pins sort by it.
    pub pin_order: Option<i64>,
    /// Live messages by others after the read marker: raised by each new message, lowered when
    /// an unread one is deleted, recounted when the marker moves.
    pub unread_count: i64,
    /// Of those unread messages, the ones that mention the member: kept the same way.
    pub mention_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
