//! What changes to chats and to messages share: a chat's members as stored, and the lock every
//! write to a chat starts with ([`lock_chat`]), which serialises changes to one chat (members,
//! messages) and on SQLite makes the transaction a writer from its first statement.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait};
use time::OffsetDateTime;

use super::StoreError;
use super::entity::{chat, chat_member};
use crate::domain::Role;
use crate::domain::chat::{Action, allowed, refusal};
use crate::domain::{ChatId, MessageId, UserId};

/// One member of one chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: OffsetDateTime,
    pub last_read_id: Option<MessageId>,
    pub pin_order: Option<i64>,
    pub unread_count: u64,
}

impl From<chat_member::Model> for Member {
    fn from(row: chat_member::Model) -> Self {
        Self {
            chat_id: row.chat_id,
            user_id: row.user_id,
            role: row.role,
            joined_at: row.joined_at,
            last_read_id: row.last_read_id,
            pin_order: row.pin_order,
            unread_count: u64::try_from(row.unread_count).unwrap_or(0),
        }
    }
}

/// Whether `actor` may do `action` to a chat this transaction has locked, by the role it holds
/// now: `Ok(false)` if it is no longer a member. The service checks first, for a quick answer;
/// this check, made in the transaction of the change, is the one that counts, so a role taken
/// away meanwhile cannot slip through.
pub(super) async fn authorize(
    txn: &DatabaseTransaction,
    chat: &chat::Model,
    actor: UserId,
    action: Action,
) -> Result<bool, StoreError> {
    let Some(member) = chat_member::Entity::find_by_id((chat.id, actor)).one(txn).await? else { return Ok(false) };
    if allowed(chat.kind, member.role, action) {
        Ok(true)
    } else {
        Err(StoreError::NotAllowed(refusal(chat.kind, action)))
    }
}

/// Locks a chat's row for the rest of the transaction and reads it; `None` if it is gone.
pub(super) async fn lock_chat(txn: &DatabaseTransaction, chat_id: ChatId) -> Result<Option<chat::Model>, DbErr> {
    // A no-op write: a row lock on PostgreSQL, the database's write lock on SQLite.
    let touch = Query::update()
        .table(chat::Entity)
        .value(chat::Column::LastActivityAt, Expr::col(chat::Column::LastActivityAt))
        .and_where(chat::Column::Id.eq(chat_id))
        .to_owned();
    if txn.execute(&touch).await?.rows_affected() == 0 {
        return Ok(None);
    }
    chat::Entity::find_by_id(chat_id).one(txn).await
}
