//! The media garbage list: prefixes of stored objects waiting to be deleted.
//!
//! Objects live outside the database, so no transaction can cover them. Instead every change
//! that orphans objects queues their prefix in the same transaction, and a new upload queues its
//! own prefix with a grace period *before* writing, and unqueues it when the database points at
//! it. Whatever fails or crashes in between, every object is either referenced or queued, and a
//! sweeper retries the queue until storage answers.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use time::OffsetDateTime;

use super::StoreError;
use super::entity::{media_garbage, media_hold};
use super::{Store, now};

/// A queued prefix and how often deleting it has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbage {
    pub prefix: String,
    pub attempts: u32,
}

/// Queues `prefix` for deletion from `not_before` on (or moves an existing entry there).
pub(super) async fn discard_in(
    conn: &impl ConnectionTrait,
    prefix: &str,
    not_before: OffsetDateTime,
) -> Result<(), DbErr> {
    let row = media_garbage::ActiveModel {
        prefix: Set(prefix.to_owned()),
        not_before: Set(not_before),
        attempts: Set(0),
        created_at: Set(now()),
    };
    media_garbage::Entity::insert(row)
        .on_conflict(
            OnConflict::column(media_garbage::Column::Prefix)
                .update_column(media_garbage::Column::NotBefore)
                .to_owned(),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// Unqueues `prefix`: something in the database refers to it now.
pub(super) async fn keep_in(conn: &impl ConnectionTrait, prefix: &str) -> Result<(), DbErr> {
    media_garbage::Entity::delete_by_id(prefix.to_owned()).exec(conn).await?;
    Ok(())
}

impl Store {
    /// Queues `prefix` for deletion at `not_before`, outside any other change: called before
    /// an upload writes its objects, with a grace period longer than any upload takes.
    pub async fn discard_media(&self, prefix: &str, not_before: OffsetDateTime) -> Result<(), StoreError> {
        Ok(discard_in(&self.db, prefix, not_before).await?)
    }

    /// Up to `limit` queued prefixes that are due, oldest first.
    pub async fn due_media_garbage(&self, limit: u64) -> Result<Vec<Garbage>, StoreError> {
        let rows = media_garbage::Entity::find()
            .filter(media_garbage::Column::NotBefore.lte(now()))
            .order_by_asc(media_garbage::Column::NotBefore)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Garbage { prefix: row.prefix, attempts: u32::try_from(row.attempts).unwrap_or(0) })
            .collect())
    }

    /// The objects under `prefix` are gone.
    pub async fn media_collected(&self, prefix: &str) -> Result<(), StoreError> {
        Ok(keep_in(&self.db, prefix).await?)
    }

    /// Deleting failed: try again at `retry_at`.
    pub async fn media_retry_at(
        &self,
        prefix: &str,
        attempts: u32,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        media_garbage::Entity::update_many()
            .col_expr(media_garbage::Column::NotBefore, sea_orm::sea_query::Expr::value(retry_at))
            .col_expr(
                media_garbage::Column::Attempts,
                sea_orm::sea_query::Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .filter(media_garbage::Column::Prefix.eq(prefix))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Holds on deleting media: a backup sets one while it copies the objects its snapshot names.
impl Store {
    /// Holds deletions until `until` (or moves the hold `name` there).
    pub async fn hold_media(&self, name: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        let row = media_hold::ActiveModel { name: Set(name.to_owned()), until: Set(until) };
        media_hold::Entity::insert(row)
            .on_conflict(
                OnConflict::column(media_hold::Column::Name).update_column(media_hold::Column::Until).to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn release_media_hold(&self, name: &str) -> Result<(), StoreError> {
        media_hold::Entity::delete_by_id(name.to_owned()).exec(&self.db).await?;
        Ok(())
    }

    /// The end of the latest hold still ahead, if any.
    pub async fn media_held_until(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let holds = media_hold::Entity::find().filter(media_hold::Column::Until.gt(now())).all(&self.db).await?;
        Ok(holds.into_iter().map(|hold| hold.until).max())
    }
}
