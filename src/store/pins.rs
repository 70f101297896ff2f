//! A member's pins: their own order of the chats they keep at the top of the list.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set};

use super::entity::chat_member;
use super::{Store, StoreError};
use crate::domain::{ChatId, UserId};

impl Store {
    /// Pins the chat for the member at the end of their pins, or unpins it. Returns whether the
    /// membership exists.
    pub async fn set_pinned(&self, user_id: UserId, chat_id: ChatId, pinned: bool) -> Result<bool, StoreError> {
        let Some(row) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&self.db).await? else {
            return Ok(false);
        };
        if row.pin_order.is_some() == pinned {
            return Ok(true);
        }
        let order = if pinned {
            let last: Option<Option<i64>> = chat_member::Entity::find()
                .select_only()
                .column_as(chat_member::Column::PinOrder.max(), "last")
                .filter(chat_member::Column::UserId.eq(user_id))
                .into_tuple()
                .one(&self.db)
                .await?;
            Some(last.flatten().unwrap_or(0) + 1)
        } else {
            None
        };
        let mut active = row.into_active_model();
        active.pin_order = Set(order);
        active.update(&self.db).await?;
        Ok(true)
    }
}
