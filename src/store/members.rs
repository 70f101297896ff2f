//! What every change to a chat builds on: a chat's members as stored and read (for one chat or
//! for many at once, in one query), the lock every write to a chat starts with ([`lock_chat`]),
//! which serialises changes to one chat (members, messages) and on SQLite makes the
//! transaction a writer from its first statement, and the check of the actor's role under it
//! ([`authorize`]).

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, DynIden, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use time::OffsetDateTime;

use super::audit::Audited;
use super::entity::{chat, chat_member, message, user};
use super::{Chat, Store, StoreError, audit};
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
    /// Unread messages that mention the member.
    pub mention_count: u64,
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
            mention_count: u64::try_from(row.mention_count).unwrap_or(0),
        }
    }
}

/// Who acts on a chat: one of its members, by the role they hold in it, or an operator (an
/// active administrator of the service) moderating it from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Member(UserId),
    Operator(UserId),
}

impl Actor {
    pub fn user_id(self) -> UserId {
        match self {
            Self::Member(id) | Self::Operator(id) => id,
        }
    }
}

impl From<UserId> for Actor {
    fn from(id: UserId) -> Self {
        Self::Member(id)
    }
}

/// [`authorize`] for a member; for an operator, whether the account is still an active
/// administrator, read in the same transaction.
pub(super) async fn authorize_actor(
    txn: &DatabaseTransaction,
    chat: &chat::Model,
    actor: Actor,
    action: Action,
) -> Result<bool, StoreError> {
    match actor {
        Actor::Member(id) => authorize(txn, chat, id, action).await,
        Actor::Operator(id) => {
            let operator = user::Entity::find_by_id(id).one(txn).await?;
            Ok(operator.is_some_and(|u| u.is_admin && u.is_active))
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

/// `user_id`'s unread counts in `chat_ids`, in one statement, so
/// each is read from one snapshot of its chat and membership however they are being written:
/// the chat's `message_total` less the member's `read_total` and `own_since_read`, less the
/// others' tombstones after the marker (a range of the partial index `idx_messages_tombstones`,
/// which holds deleted messages only). Constant work per send and per read marker; the cost
/// here grows only with deletions after the marker.
pub(super) async fn unread_counts(
    conn: &impl ConnectionTrait,
    user_id: UserId,
    chat_ids: &[ChatId],
) -> Result<HashMap<ChatId, u64>, DbErr> {
    let cm = chat_member::Entity;
    let query = Query::select()
        .column((cm, chat_member::Column::ChatId))
        .expr_as(unread_of(cm.into(), chat::Entity.into()), Alias::new("unread"))
        .from(cm)
        .inner_join(chat::Entity, Expr::col((chat::Entity, chat::Column::Id)).equals((cm, chat_member::Column::ChatId)))
        .and_where(Expr::col((cm, chat_member::Column::UserId)).eq(user_id))
        .and_where(Expr::col((cm, chat_member::Column::ChatId)).is_in(chat_ids.iter().copied()))
        .to_owned();
    let mut counts = HashMap::new();
    for row in conn.query_all(&query).await? {
        counts.insert(row.try_get("", "chat_id")?, unread_in(&row)?);
    }
    Ok(counts)
}

/// The unread count of the membership `member` in the chat `chat` (the names the statement
/// gives those rows), as a column: see [`unread_counts`].
pub(super) fn unread_of(member: DynIden, chat: DynIden) -> Expr {
    let (cm, t) = (member, Alias::new("tombstone"));
    let tombstones = Query::select()
        .expr(Expr::col((t.clone(), message::Column::Id)).count())
        .from_as(message::Entity, t.clone())
        .and_where(Expr::col((t.clone(), message::Column::ChatId)).equals((cm.clone(), chat_member::Column::ChatId)))
        .and_where(Expr::col((t.clone(), message::Column::DeletedAt)).is_not_null())
        .and_where(Expr::col((cm.clone(), chat_member::Column::LastReadId)).is_null().or(
            Expr::col((t.clone(), message::Column::Id)).gt(Expr::col((cm.clone(), chat_member::Column::LastReadId))),
        ))
        .and_where(
            Expr::col((t.clone(), message::Column::AuthorId))
                .is_null()
                .or(Expr::col((t, message::Column::AuthorId)).ne(Expr::col((cm.clone(), chat_member::Column::UserId)))),
        )
        .to_owned();
    Expr::col((chat, chat::Column::MessageTotal))
        .sub(Expr::col((cm.clone(), chat_member::Column::ReadTotal)))
        .sub(Expr::col((cm, chat_member::Column::OwnSinceRead)))
        .sub(Expr::SubQuery(None, Box::new(tombstones.into())))
}

/// The column [`unread_of`] named `unread`, read from a row.
pub(super) fn unread_in(row: &sea_orm::QueryResult) -> Result<u64, DbErr> {
    let unread: i64 = row.try_get("", "unread")?;
    Ok(u64::try_from(unread).unwrap_or(0))
}

impl Audited for Member {
    const ENTITY: &'static str = "chat_member";

    fn audit_id(&self) -> String {
        format!("{}:{}", self.chat_id, self.user_id)
    }

    fn snapshot(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "chat_id": self.chat_id, "user_id": self.user_id, "role": self.role }))
    }
}

impl Store {
    /// The chat and `user_id`'s membership of it, or `None` if either is missing.
    pub async fn membership(&self, chat_id: ChatId, user_id: UserId) -> Result<Option<(Chat, Member)>, StoreError> {
        let Some(member) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&self.db).await? else {
            return Ok(None);
        };
        let chat = chat::Entity::find_by_id(chat_id).one(&self.db).await?;
        Ok(chat.map(|chat| (chat.into(), member.into())))
    }

    /// `user_id`'s unread counts in `chat_ids` (see [`unread_counts`]); chats they are not in
    /// are left out.
    pub async fn unread_counts(
        &self,
        user_id: UserId,
        chat_ids: &[ChatId],
    ) -> Result<HashMap<ChatId, u64>, StoreError> {
        if chat_ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(unread_counts(&self.db, user_id, chat_ids).await?)
    }

    /// A chat's members, oldest first.
    pub async fn members(&self, chat_id: ChatId) -> Result<Vec<Member>, StoreError> {
        Ok(self.members_of_chats(&[chat_id]).await?.remove(&chat_id).unwrap_or_default())
    }

    /// The members of several chats in one query, oldest first within each chat.
    pub async fn members_of_chats(&self, chat_ids: &[ChatId]) -> Result<HashMap<ChatId, Vec<Member>>, StoreError> {
        let mut by_chat: HashMap<ChatId, Vec<Member>> = HashMap::new();
        if chat_ids.is_empty() {
            return Ok(by_chat);
        }
        let rows = chat_member::Entity::find()
            .filter(chat_member::Column::ChatId.is_in(chat_ids.iter().copied()))
            .order_by_asc(chat_member::Column::JoinedAt)
            .order_by_asc(chat_member::Column::UserId)
            .all(&self.db)
            .await?;
        for row in rows {
            by_chat.entry(row.chat_id).or_default().push(row.into());
        }
        Ok(by_chat)
    }

    /// A chat's members' ids, sorted ([`roster`](Self::roster) without its version); none if
    /// the chat is gone.
    pub async fn member_ids(&self, chat_id: ChatId) -> Result<Vec<UserId>, StoreError> {
        Ok(self.roster(chat_id).await?.map(|(_, members)| members).unwrap_or_default())
    }

    /// A chat's roster version and its members' ids, sorted, read together (one statement, so
    /// one snapshot); `None` if the chat is gone.
    pub async fn roster(&self, chat_id: ChatId) -> Result<Option<(i64, Vec<UserId>)>, StoreError> {
        let (c, cm) = (chat::Entity, chat_member::Entity);
        let select = Query::select()
            .column((c, chat::Column::RosterVersion))
            .column((cm, chat_member::Column::UserId))
            .from(c)
            .left_join(cm, Expr::col((cm, chat_member::Column::ChatId)).equals((c, chat::Column::Id)))
            .and_where(Expr::col((c, chat::Column::Id)).eq(chat_id))
            .to_owned();
        let rows = self.db.query_all(&select).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let version: i64 = first.try_get("", "roster_version")?;
        let mut members = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(user_id) = row.try_get::<Option<UserId>>("", "user_id")? {
                members.push(user_id);
            }
        }
        members.sort_unstable();
        Ok(Some((version, members)))
    }

    /// Everyone who shares at least one chat with `user_id`, `user_id` included.
    pub async fn chat_partners(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
        let my_chats = Query::select()
            .column(chat_member::Column::ChatId)
            .from(chat_member::Entity)
            .and_where(chat_member::Column::UserId.eq(user_id))
            .to_owned();
        Ok(chat_member::Entity::find()
            .select_only()
            .column(chat_member::Column::UserId)
            .distinct()
            .filter(chat_member::Column::ChatId.in_subquery(my_chats))
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

/// Raises a chat's roster version: every transaction that adds or removes members of an
/// existing chat calls it once (a chat made in the transaction starts at 0, and nobody can have
/// kept its list yet).
pub(super) async fn bump_roster_in(txn: &DatabaseTransaction, chat_id: ChatId) -> Result<(), DbErr> {
    let bump = Query::update()
        .table(chat::Entity)
        .value(chat::Column::RosterVersion, Expr::col(chat::Column::RosterVersion).add(1))
        .and_where(chat::Column::Id.eq(chat_id))
        .to_owned();
    txn.execute(&bump).await?;
    Ok(())
}

/// Adds a member to a chat locked by this transaction (or new in it); an existing chat's
/// transaction also calls [`bump_roster_in`]. What was said before they joined is read: their
/// marker is the chat's newest message, their read total the chat's.
pub(super) async fn insert_member(
    conn: &impl ConnectionTrait,
    chat: &chat::Model,
    user_id: UserId,
    role: Role,
    at: OffsetDateTime,
) -> Result<Member, DbErr> {
    let row = chat_member::ActiveModel {
        chat_id: Set(chat.id),
        user_id: Set(user_id),
        role: Set(role),
        joined_at: Set(at),
        last_read_id: Set(chat.last_message_id),
        pin_order: Set(None),
        read_total: Set(chat.message_total),
        own_since_read: Set(0),
        mention_count: Set(0),
    }
    .insert(conn)
    .await?;
    Ok(row.into())
}

pub(super) async fn update_role(
    txn: &DatabaseTransaction,
    row: chat_member::Model,
    role: Role,
    actor: UserId,
) -> Result<Member, DbErr> {
    let before = Member::from(row.clone());
    let mut active = row.into_active_model();
    active.role = Set(role);
    let member = Member::from(active.update(txn).await?);
    audit::record(txn, Some(actor), "change_role", Some(&before), Some(&member)).await?;
    Ok(member)
}
