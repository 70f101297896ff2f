//! What presence keeps in the database: when each account was last online, and who may see it.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use time::OffsetDateTime;

use super::entity::{chat_member, user, user_presence};
use super::{Store, StoreError};
use crate::domain::UserId;

impl Store {
    /// Records that these accounts were last online `at` (accounts deleted meanwhile are skipped).
    /// One statement, however many.
    pub async fn mark_last_seen(&self, user_ids: &[UserId], at: OffsetDateTime) -> Result<(), StoreError> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let existing = Query::select()
            .column(user::Column::Id)
            .expr(Expr::val(at))
            .from(user::Entity)
            .and_where(user::Column::Id.is_in(user_ids.iter().copied()))
            .to_owned();
        let mut insert = Query::insert()
            .into_table(user_presence::Entity)
            .columns([user_presence::Column::UserId, user_presence::Column::LastSeenAt])
            .select_from(existing)
            .map_err(|err| StoreError::Db(sea_orm::DbErr::Custom(err.to_string())))?
            .to_owned();
        insert.on_conflict(
            OnConflict::column(user_presence::Column::UserId)
                .update_column(user_presence::Column::LastSeenAt)
                .to_owned(),
        );
        self.db.execute(&insert).await?;
        Ok(())
    }

    /// When these accounts were last online, for those that ever were.
    pub async fn last_seen(
        &self,
        user_ids: impl IntoIterator<Item = UserId>,
    ) -> Result<HashMap<UserId, OffsetDateTime>, StoreError> {
        let ids: Vec<UserId> = user_ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(user_presence::Entity::find()
            .filter(user_presence::Column::UserId.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| (row.user_id, row.last_seen_at))
            .collect())
    }

    /// For each of `user_ids`, everyone else who shares at least one chat with them: one join for
    /// the lot.
    pub async fn chat_partners_of(&self, user_ids: &[UserId]) -> Result<HashMap<UserId, Vec<UserId>>, StoreError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let (mine, theirs) = (Alias::new("mine"), Alias::new("theirs"));
        let query = Query::select()
            .distinct()
            .column((mine.clone(), chat_member::Column::UserId))
            .column((theirs.clone(), chat_member::Column::UserId))
            .from_as(chat_member::Entity, mine.clone())
            .join_as(
                JoinType::InnerJoin,
                chat_member::Entity,
                theirs.clone(),
                Expr::col((theirs.clone(), chat_member::Column::ChatId))
                    .equals((mine.clone(), chat_member::Column::ChatId)),
            )
            .and_where(Expr::col((mine.clone(), chat_member::Column::UserId)).is_in(user_ids.iter().copied()))
            .and_where(
                Expr::col((theirs.clone(), chat_member::Column::UserId))
                    .ne(Expr::col((mine, chat_member::Column::UserId))),
            )
            .to_owned();
        let mut partners: HashMap<UserId, Vec<UserId>> = HashMap::new();
        for row in self.db.query_all(&query).await? {
            let (user, partner): (UserId, UserId) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
            partners.entry(user).or_default().push(partner);
        }
        Ok(partners)
    }

    /// Which of `others` share at least one chat with `viewer`: one join, whatever their number.
    pub async fn sharing_a_chat(&self, viewer: UserId, others: &[UserId]) -> Result<HashSet<UserId>, StoreError> {
        if others.is_empty() {
            return Ok(HashSet::new());
        }
        let my_chats = Query::select()
            .column(chat_member::Column::ChatId)
            .from(chat_member::Entity)
            .and_where(chat_member::Column::UserId.eq(viewer))
            .to_owned();
        let ids: Vec<UserId> = chat_member::Entity::find()
            .select_only()
            .column(chat_member::Column::UserId)
            .distinct()
            .filter(chat_member::Column::UserId.is_in(others.iter().copied()))
            .filter(chat_member::Column::ChatId.in_subquery(my_chats))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().collect())
    }
}
