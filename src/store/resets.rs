//! Password-reset codes: one live code per account, stored as a hash, with a try counter.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use time::OffsetDateTime;

use super::StoreError;
use super::entity::password_reset;
use super::users::set_password_in;
use super::{Store, now};
use crate::domain::{SessionId, UserId};

/// What presenting a reset code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The code matches and is live.
    Valid,
    /// Wrong code; its try is counted (and the code dies at the limit).
    Wrong,
    /// No live code: never requested, expired, used, or out of tries.
    Dead,
}

impl Store {
    /// Stores a new code for the account, replacing any earlier one.
    pub async fn put_reset_code(
        &self,
        user_id: UserId,
        code_hash: String,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let row = password_reset::ActiveModel {
            user_id: Set(user_id),
            code_hash: Set(code_hash),
            attempts: Set(0),
            created_at: Set(now()),
            expires_at: Set(expires_at),
        };
        password_reset::Entity::insert(row)
            .on_conflict(
                OnConflict::column(password_reset::Column::UserId)
                    .update_columns([
                        password_reset::Column::CodeHash,
                        password_reset::Column::Attempts,
                        password_reset::Column::CreatedAt,
                        password_reset::Column::ExpiresAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Checks a code without using it up. A wrong code counts a try; the `max_tries`th wrong
    /// one deletes the code.
    pub async fn check_reset_code(
        &self,
        user_id: UserId,
        code_hash: &str,
        max_tries: u32,
    ) -> Result<ResetOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = password_reset::Entity::find_by_id(user_id).one(&txn).await? else {
            return Ok(ResetOutcome::Dead);
        };
        if row.expires_at <= now() || u32::try_from(row.attempts).unwrap_or(u32::MAX) >= max_tries {
            password_reset::Entity::delete_by_id(user_id).exec(&txn).await?;
            txn.commit().await?;
            return Ok(ResetOutcome::Dead);
        }
        if row.code_hash == code_hash {
            return Ok(ResetOutcome::Valid);
        }
        if u32::try_from(row.attempts + 1).unwrap_or(u32::MAX) >= max_tries {
            password_reset::Entity::delete_by_id(user_id).exec(&txn).await?;
        } else {
            password_reset::Entity::update_many()
                .col_expr(password_reset::Column::Attempts, Expr::col(password_reset::Column::Attempts).add(1))
                .filter(password_reset::Column::UserId.eq(user_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ResetOutcome::Wrong)
    }

    /// Uses up the code and sets the new password, ending every session, in one transaction.
    /// `None` if the code is no longer there (used or replaced meanwhile).
    pub async fn redeem_reset_code(
        &self,
        user_id: UserId,
        code_hash: &str,
        password_hash: String,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let txn = self.begin_write().await?;
        let consumed = password_reset::Entity::delete_many()
            .filter(password_reset::Column::UserId.eq(user_id))
            .filter(password_reset::Column::CodeHash.eq(code_hash))
            .filter(password_reset::Column::ExpiresAt.gt(now()))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !consumed {
            return Ok(None);
        }
        let ended = set_password_in(&txn, user_id, password_hash, None, "reset_password").await?;
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(Some(ended))
    }
}
