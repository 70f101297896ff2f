//! `message_mentions`: the members a message mentions, found when it was written or edited.

use crate::domain::{ChatId, MessageId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_mentions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: MessageId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: UserId,
    /// Of the message, so a member's unread mentions are one range of `(user_id, chat_id, message_id)`.
    pub chat_id: ChatId,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
