//! `chats`: direct chats and groups.

use crate::domain::{ChatId, ChatKind, MessageId, UserId};
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ChatId,
    /// `direct` or `group`.
    pub kind: ChatKind,
    pub title: Option<String>,
    /// `<smaller user id>:<larger user id>` for a direct chat, unique.
    pub direct_key: Option<String>,
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: TimeDateTimeWithTimeZone,
    /// The newest message's time (or the creation): chat lists sort by it.
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity_at: TimeDateTimeWithTimeZone,
    pub last_message_id: Option<MessageId>,
    /// Every message the chat was ever sent, deleted ones included: a member's unread count is
    /// this less their `read_total` and `own_since_read`, less the others' tombstones after
    /// their marker.
    #[serde(skip)]
    pub message_total: i64,
    /// Raised by every join and removal: which member list a send was made to.
    #[serde(skip)]
    pub roster_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
