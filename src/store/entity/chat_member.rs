//! `chat_members`: who is in which chat, with their role, read marker, the totals their unread count is
//! derived from, their unread mention count and pin.

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
    /// The chat's messages at or before the read marker (the chat's `message_total` when the
    /// member joined): set when the marker moves, never by anyone else's writes.
    pub read_total: i64,
    /// The member's own messages after the read marker, deleted ones included: raised by each
    /// of their sends, recounted when the marker moves.
    pub own_since_read: i64,
    /// Unread messages that mention the member: raised by a message that names them, lowered
    /// when it is deleted, recounted when the marker moves.
    pub mention_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
