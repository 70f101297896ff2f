//! Mentions: which members a message names, and each member's count of unread ones, kept in
//! the transaction that writes the message. Every write here touches the rows of the people
//! mentioned, never the chat's other members.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{chat_member, message_mention, user};
use super::{Store, StoreError};
use crate::domain::{ChatId, MessageId, UserId, mention};

/// The chat's members (other than the author) whom `text` mentions by username.
async fn members_named_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    author: Option<UserId>,
    text: &str,
) -> Result<HashSet<UserId>, DbErr> {
    let keys = mention::mentioned(text);
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let select = Query::select()
        .column((user::Entity, user::Column::Id))
        .from(user::Entity)
        .inner_join(
            chat_member::Entity,
            Expr::col((chat_member::Entity, chat_member::Column::UserId)).equals((user::Entity, user::Column::Id)),
        )
        .and_where(Expr::col((chat_member::Entity, chat_member::Column::ChatId)).eq(chat_id))
        .and_where(Expr::col((user::Entity, user::Column::UsernameKey)).is_in(keys))
        .to_owned();
    let mut found = HashSet::new();
    for row in txn.query_all(&select).await? {
        let id: UserId = row.try_get("", "id")?;
        if Some(id) != author {
            found.insert(id);
        }
    }
    Ok(found)
}

/// Changes the mention count of these members by `by`, for those who have not read the message.
async fn count_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    message_id: MessageId,
    users: &HashSet<UserId>,
    by: i64,
) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let mut update = Query::update()
        .table(chat_member::Entity)
        .value(chat_member::Column::MentionCount, Expr::col(chat_member::Column::MentionCount).add(by))
        .and_where(chat_member::Column::ChatId.eq(chat_id))
        .and_where(chat_member::Column::UserId.is_in(users.iter().copied()))
        .and_where(chat_member::Column::LastReadId.is_null().or(chat_member::Column::LastReadId.lt(message_id)))
        .to_owned();
    if by < 0 {
        update.and_where(chat_member::Column::MentionCount.gt(0));
    }
    txn.execute(&update).await?;
    Ok(())
}

async fn record_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    message_id: MessageId,
    users: &HashSet<UserId>,
) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(message_mention::Entity)
        .columns([message_mention::Column::MessageId, message_mention::Column::UserId, message_mention::Column::ChatId])
        .to_owned();
    for user_id in users {
        insert.values_panic([message_id.into(), (*user_id).into(), chat_id.into()]);
    }
    txn.execute(&insert).await?;
    Ok(())
}

/// Whom a message mentions, as recorded.
async fn recorded_in(txn: &DatabaseTransaction, message_id: MessageId) -> Result<HashSet<UserId>, DbErr> {
    let users: Vec<UserId> = message_mention::Entity::find()
        .select_only()
        .column(message_mention::Column::UserId)
        .filter(message_mention::Column::MessageId.eq(message_id))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(users.into_iter().collect())
}

/// Records the mentions of a new message, unread by everyone it names.
pub(super) async fn mention_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    message_id: MessageId,
    author: Option<UserId>,
    text: &str,
) -> Result<(), DbErr> {
    let named = members_named_in(txn, chat_id, author, text).await?;
    record_in(txn, chat_id, message_id, &named).await?;
    count_in(txn, chat_id, message_id, &named, 1).await
}

/// Brings an edited message's mentions up to date: the newly named are mentioned (and counted
/// if they have not read it), the no longer named are not.
pub(super) async fn remention_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    message_id: MessageId,
    author: Option<UserId>,
    text: &str,
) -> Result<(), DbErr> {
    let named = members_named_in(txn, chat_id, author, text).await?;
    let before = recorded_in(txn, message_id).await?;
    let added: HashSet<UserId> = named.difference(&before).copied().collect();
    let removed: HashSet<UserId> = before.difference(&named).copied().collect();
    if !removed.is_empty() {
        message_mention::Entity::delete_many()
            .filter(message_mention::Column::MessageId.eq(message_id))
            .filter(message_mention::Column::UserId.is_in(removed.iter().copied()))
            .exec(txn)
            .await?;
    }
    record_in(txn, chat_id, message_id, &added).await?;
    count_in(txn, chat_id, message_id, &added, 1).await?;
    count_in(txn, chat_id, message_id, &removed, -1).await
}

/// Forgets a deleted message's mentions, and uncounts them for whoever had not read it.
pub(super) async fn unmention_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    message_id: MessageId,
) -> Result<(), DbErr> {
    let named = recorded_in(txn, message_id).await?;
    count_in(txn, chat_id, message_id, &named, -1).await?;
    message_mention::Entity::delete_many().filter(message_mention::Column::MessageId.eq(message_id)).exec(txn).await?;
    Ok(())
}

/// How many messages after `marker` mention `user_id` in the chat: one range of the
/// `(user_id, chat_id, message_id)` index, as a subquery for the read marker's update.
pub(super) fn unread_mentions(
    chat_id: ChatId,
    user_id: UserId,
    marker: MessageId,
) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::col(message_mention::Column::MessageId).count())
        .from(message_mention::Entity)
        .and_where(message_mention::Column::UserId.eq(user_id))
        .and_where(message_mention::Column::ChatId.eq(chat_id))
        .and_where(message_mention::Column::MessageId.gt(marker))
        .to_owned()
}

impl Store {
    /// The members each of these messages mentions, in one query; each list sorted by id.
    pub async fn mentions(&self, message_ids: &[MessageId]) -> Result<HashMap<MessageId, Vec<UserId>>, StoreError> {
        let mut mentions: HashMap<MessageId, Vec<UserId>> = HashMap::new();
        if message_ids.is_empty() {
            return Ok(mentions);
        }
        let rows: Vec<(MessageId, UserId)> = message_mention::Entity::find()
            .select_only()
            .column(message_mention::Column::MessageId)
            .column(message_mention::Column::UserId)
            .filter(message_mention::Column::MessageId.is_in(message_ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        for (message_id, user_id) in rows {
            mentions.entry(message_id).or_default().push(user_id);
        }
        for users in mentions.values_mut() {
            users.sort();
        }
        Ok(mentions)
    }
}
