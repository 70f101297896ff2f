//! A member's pins: their own order of the chats they keep at the top of the list.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use super::entity::{chat_member, user};
use super::{Store, StoreError};
use crate::domain::{ChatId, UserId};

/// Where a pin goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// Not pinned.
    Off,
    /// After my other pins; a chat already pinned keeps its place.
    Last,
    /// At this place among my pins, counted from 0 (past the end: last). A pinned chat moves.
    At(usize),
}

impl Store {
    /// Pins the chat for the member where `pin` says, or unpins it, renumbering the member's
    /// other pins as needed. Returns whether the membership exists.
    pub async fn set_pinned(&self, user_id: UserId, chat_id: ChatId, pin: Pin) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        // One member's pins change one at a time: a no-op write on their account row (a row lock
        // on PostgreSQL, the write lock on SQLite), so two reorders never interleave.
        let touch = Query::update()
            .table(user::Entity)
            .value(user::Column::Id, Expr::col(user::Column::Id))
            .and_where(user::Column::Id.eq(user_id))
            .to_owned();
        txn.execute(&touch).await?;
        let Some(row) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&txn).await? else {
            return Ok(false);
        };
        let index = match pin {
            Pin::Off if row.pin_order.is_none() => return Ok(true),
            Pin::Last if row.pin_order.is_some() => return Ok(true),
            Pin::Off => None,
            Pin::Last => Some(usize::MAX),
            Pin::At(index) => Some(index),
        };
        let mut pins: Vec<chat_member::Model> = chat_member::Entity::find()
            .filter(chat_member::Column::UserId.eq(user_id))
            .filter(chat_member::Column::PinOrder.is_not_null())
            .filter(chat_member::Column::ChatId.ne(chat_id))
            .order_by_asc(chat_member::Column::PinOrder)
            .order_by_asc(chat_member::Column::ChatId)
            .all(&txn)
            .await?;
        match index {
            Some(index) => pins.insert(index.min(pins.len()), row),
            None => {
                let mut active = row.into_active_model();
                active.pin_order = Set(None);
                active.update(&txn).await?;
            }
        }
        // 1, 2, 3, … in the new order; only rows whose number changes are written.
        for (place, member) in pins.into_iter().enumerate() {
            let order = i64::try_from(place).unwrap_or(i64::MAX - 1) + 1;
            if member.pin_order != Some(order) {
                let mut active = member.into_active_model();
                active.pin_order = Set(Some(order));
                active.update(&txn).await?;
            }
        }
        txn.commit().await?;
        Ok(true)
    }
}
