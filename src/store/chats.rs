//! Chats themselves: creation (direct and group), renames, deletion, and a member's list of
//! chats. Who is in a chat is in `roster.rs`, a member's pins in `pins.rs`, the member row, the
//! chat lock and the reads of members in `members.rs`.
//!
//! Every write to a chat starts by locking its row (`members::lock_chat`): changes to one chat (members,
//! messages) are serialised, which keeps ownership hand-overs and message order exact, and on
//! SQLite it makes the transaction a writer from its first statement, so it waits its turn
//! instead of failing when another writer commits first.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, IntoActiveModel, Iterable, JoinType, QueryFilter, Set, SqlErr,
};
use time::OffsetDateTime;

use super::audit::Audited;
use super::entity::{attachment, chat, chat_member, message};
use super::members::{Actor, Member, authorize, authorize_actor, insert_member, lock_chat, unread_in, unread_of};
use super::messages::{NewMessage, insert_message_in};
use super::{Message, Store, StoreError, audit, media, now};
use crate::domain::chat::Action;
use crate::domain::{ChatId, MessageId, SystemEvent, UserId};
use crate::domain::{ChatKind, ChatTitle, Role};

/// Where a page of a member's chat list ends: in their pins, or among the rest by activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCursor {
    Pinned { order: i64, chat_id: ChatId },
    Active { at: OffsetDateTime, chat_id: ChatId },
}

impl ChatCursor {
    /// As clients hold it: opaque, URL-safe (`p1.<chat id>`, `a<unix microseconds>.<chat id>`).
    pub fn encode(self) -> String {
        match self {
            Self::Pinned { order, chat_id } => format!("p{order}.{chat_id}"),
            Self::Active { at, chat_id } => format!("a{}.{chat_id}", at.unix_timestamp_nanos() / 1000),
        }
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (head, id) = raw.split_once('.')?;
        let chat_id: ChatId = id.parse().ok()?;
        match head.split_at_checked(1)? {
            ("p", order) => Some(Self::Pinned { order: order.parse().ok()?, chat_id }),
            ("a", micros) => {
                let nanos = micros.parse::<i128>().ok()?.checked_mul(1000)?;
                Some(Self::Active { at: OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?, chat_id })
            }
            _ => None,
        }
    }
}

/// A chat as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: ChatId,
    pub kind: ChatKind,
    pub title: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_activity_at: OffsetDateTime,
    pub last_message_id: Option<MessageId>,
}

impl From<chat::Model> for Chat {
    fn from(row: chat::Model) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            title: row.title,
            created_at: row.created_at,
            last_activity_at: row.last_activity_at,
            last_message_id: row.last_message_id,
        }
    }
}

/// A new (or, for a direct chat, existing) chat with its members.
#[derive(Debug, Clone)]
pub struct CreatedChat {
    pub chat: Chat,
    pub members: Vec<Member>,
    /// `false` when a direct chat between the two already existed and is returned instead.
    pub created: bool,
}

impl Audited for chat::Model {
    const ENTITY: &'static str = "chat";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn snapshot(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

fn direct_key(a: UserId, b: UserId) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

impl Store {
    /// The direct chat of `me` and `other`, created if there is none yet.
    pub async fn open_direct_chat(&self, me: UserId, other: UserId) -> Result<CreatedChat, StoreError> {
        let key = direct_key(me, other);
        if let Some(existing) = self.direct_chat(&key).await? {
            return Ok(existing);
        }
        let at = now();
        let txn = self.begin_write().await?;
        let row = chat::ActiveModel {
            id: Set(ChatId::new()),
            kind: Set(ChatKind::Direct),
            title: Set(None),
            direct_key: Set(Some(key.clone())),
            created_by: Set(Some(me)),
            created_at: Set(at),
            last_activity_at: Set(at),
            last_message_id: Set(None),
            message_total: Set(0),
            roster_version: Set(0),
        };
        let row = match row.insert(&txn).await {
            Ok(row) => row,
            // Both opened it at once: the other request's chat is the one.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                drop(txn);
                return self.direct_chat(&key).await?.ok_or(StoreError::Db(err));
            }
            Err(err) => return Err(err.into()),
        };
        let mut members = Vec::new();
        for user_id in [me, other] {
            members.push(insert_member(&txn, &row, user_id, Role::Member, at).await?);
        }
        audit::record(&txn, Some(me), "create", None, Some(&row)).await?;
        txn.commit().await?;
        Ok(CreatedChat { chat: row.into(), members, created: true })
    }

    async fn direct_chat(&self, key: &str) -> Result<Option<CreatedChat>, StoreError> {
        let Some(row) = chat::Entity::find().filter(chat::Column::DirectKey.eq(key)).one(&self.db).await? else {
            return Ok(None);
        };
        let members = self.members(row.id).await?;
        Ok(Some(CreatedChat { chat: row.into(), members, created: false }))
    }

    /// A new group owned by `owner`, with `others` as members and a system message opening it.
    pub async fn create_group(
        &self,
        owner: UserId,
        title: ChatTitle,
        others: &[UserId],
    ) -> Result<CreatedChat, StoreError> {
        let at = now();
        let txn = self.begin_write().await?;
        let row = chat::ActiveModel {
            id: Set(ChatId::new()),
            kind: Set(ChatKind::Group),
            title: Set(Some(title.as_str().to_owned())),
            direct_key: Set(None),
            created_by: Set(Some(owner)),
            created_at: Set(at),
            last_activity_at: Set(at),
            last_message_id: Set(None),
            message_total: Set(0),
            roster_version: Set(0),
        }
        .insert(&txn)
        .await?;
        let mut members = vec![insert_member(&txn, &row, owner, Role::Owner, at).await?];
        for user_id in others.iter().filter(|id| **id != owner) {
            members.push(insert_member(&txn, &row, *user_id, Role::Member, at).await?);
        }
        audit::record(&txn, Some(owner), "create", None, Some(&row)).await?;
        let event = SystemEvent::Created { title: title.into_inner() };
        let opening = insert_message_in(&txn, &row, NewMessage::system(row.id, owner, event)).await?;
        txn.commit().await?;
        let mut chat = Chat::from(row);
        chat.last_message_id = Some(opening.id);
        chat.last_activity_at = opening.created_at;
        Ok(CreatedChat { chat, members, created: true })
    }

    /// Chats by id, in one query; ids of chats that are gone are absent.
    pub async fn chats_by_ids(&self, ids: &[ChatId]) -> Result<HashMap<ChatId, Chat>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = chat::Entity::find().filter(chat::Column::Id.is_in(ids.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|row| (row.id, Chat::from(row))).collect())
    }

    /// Every chat `user_id` is in, with their membership (unordered).
    pub async fn chats_of(&self, user_id: UserId) -> Result<Vec<(Chat, Member)>, StoreError> {
        let memberships =
            chat_member::Entity::find().filter(chat_member::Column::UserId.eq(user_id)).all(&self.db).await?;
        let ids: Vec<ChatId> = memberships.iter().map(|m| m.chat_id).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut chats: HashMap<ChatId, chat::Model> = chat::Entity::find()
            .filter(chat::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        Ok(memberships
            .into_iter()
            .filter_map(|member| Some((chats.remove(&member.chat_id)?.into(), member.into())))
            .collect())
    }

    /// One page of a member's chats in list order: pinned ones in pin order, then the rest by
    /// last activity, newest first; `limit` of them after `after`, and the cursor of the next
    /// page if there is one, each chat with the member's unread count. One statement for the
    /// pins (when the page starts among them) and one for the rest. Each picks the range's chat
    /// ids from the index `(user_id, pin_order, chat_id)` and only then reads the page's chats
    /// and memberships whole, and the unread counts of those alone.
    ///
    /// The rest are ordered by their chat's activity, which only the chat row holds (a send
    /// writes one row, not one per member), so every chat of the member's is looked at: the
    /// cost grows with their chats, not with the page. DESIGN §14 has the figures and the
    /// alternatives measured.
    pub async fn chats_page(
        &self,
        user_id: UserId,
        after: Option<ChatCursor>,
        limit: u64,
    ) -> Result<(Vec<(Chat, Member, u64)>, Option<ChatCursor>), StoreError> {
        let (c, m) = (Alias::new("c"), Alias::new("m"));
        let member = |column: chat_member::Column| Expr::col((m.clone(), column));
        let chat = |column: chat::Column| Expr::col((c.clone(), column));
        // A range of ids in `order`, and the chats and memberships it picked, whole, in the same
        // order (the same aliases inside the range and out), their columns prefixed so that each
        // model reads its own, and the unread counts.
        let whole = |mut ids: SelectStatement, order: [(Expr, Order); 2]| {
            for (key, direction) in order.clone() {
                ids.order_by_expr(key, direction);
            }
            let mut select = Query::select();
            for column in chat::Column::iter() {
                select.expr_as(chat(column), Alias::new(format!("c_{}", column.as_str())));
            }
            for column in chat_member::Column::iter() {
                select.expr_as(member(column), Alias::new(format!("m_{}", column.as_str())));
            }
            select.expr_as(unread_of(m.clone().into(), c.clone().into()), Alias::new("unread"));
            let page = Alias::new("page");
            select
                .from_subquery(ids, page.clone())
                .join_as(
                    JoinType::InnerJoin,
                    chat::Entity,
                    c.clone(),
                    chat(chat::Column::Id).equals((page, Alias::new("id"))),
                )
                .join_as(
                    JoinType::InnerJoin,
                    chat_member::Entity,
                    m.clone(),
                    member(chat_member::Column::ChatId)
                        .equals((c.clone(), chat::Column::Id))
                        .and(member(chat_member::Column::UserId).eq(user_id)),
                );
            for (key, direction) in order {
                select.order_by_expr(key, direction);
            }
            select
        };
        let mut rows: Vec<(chat::Model, chat_member::Model, u64)> = Vec::new();
        // Pinned first, unless the cursor is already past them: the memberships alone know.
        if !matches!(after, Some(ChatCursor::Active { .. })) {
            let order = [
                (member(chat_member::Column::PinOrder), Order::Asc),
                (member(chat_member::Column::ChatId), Order::Asc),
            ];
            let mut ids = Query::select();
            ids.expr_as(member(chat_member::Column::ChatId), Alias::new("id"))
                .from_as(chat_member::Entity, m.clone())
                .and_where(member(chat_member::Column::UserId).eq(user_id))
                .and_where(member(chat_member::Column::PinOrder).is_not_null())
                .limit(limit + 1);
            if let Some(ChatCursor::Pinned { order, chat_id }) = after {
                // A row value: `(a, b) > (x, y)` is `a > x OR (a = x AND b > y)`, and both
                // databases start the index range at it.
                let keys = Expr::tuple([member(chat_member::Column::PinOrder), member(chat_member::Column::ChatId)]);
                ids.and_where(keys.gt(Expr::tuple([order.into(), chat_id.into()])));
            }
            rows = self.whole_rows(&whole(ids, order)).await?;
        }
        if (rows.len() as u64) <= limit {
            let order = [(chat(chat::Column::LastActivityAt), Order::Desc), (chat(chat::Column::Id), Order::Desc)];
            let mut ids = Query::select();
            ids.expr_as(chat(chat::Column::Id), Alias::new("id"))
                .from_as(chat_member::Entity, m.clone())
                .join_as(
                    JoinType::InnerJoin,
                    chat::Entity,
                    c.clone(),
                    chat(chat::Column::Id).equals((m.clone(), chat_member::Column::ChatId)),
                )
                .and_where(member(chat_member::Column::UserId).eq(user_id))
                .and_where(member(chat_member::Column::PinOrder).is_null())
                .limit(limit + 1 - rows.len() as u64);
            if let Some(ChatCursor::Active { at, chat_id }) = after {
                let keys = Expr::tuple([chat(chat::Column::LastActivityAt), chat(chat::Column::Id)]);
                ids.and_where(keys.lt(Expr::tuple([at.into(), chat_id.into()])));
            }
            rows.extend(self.whole_rows(&whole(ids, order)).await?);
        }
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more.then(|| rows.last()).flatten().map(|(chat, member, _)| match member.pin_order {
            Some(order) => ChatCursor::Pinned { order, chat_id: chat.id },
            None => ChatCursor::Active { at: chat.last_activity_at, chat_id: chat.id },
        });
        Ok((rows.into_iter().map(|(chat, member, unread)| (chat.into(), member.into(), unread)).collect(), next))
    }

    /// The chats, memberships and unread counts of a statement that selects the first two whole,
    /// prefixed `c_` and `m_`, and the last as `unread`.
    async fn whole_rows(
        &self,
        select: &SelectStatement,
    ) -> Result<Vec<(chat::Model, chat_member::Model, u64)>, StoreError> {
        let mut rows = Vec::new();
        for row in self.db.query_all(select).await? {
            rows.push((
                chat::Model::from_query_result(&row, "c_")?,
                chat_member::Model::from_query_result(&row, "m_")?,
                unread_in(&row)?,
            ));
        }
        Ok(rows)
    }

    /// Renames a group and records it with a system message.
    pub async fn rename_chat(
        &self,
        actor: UserId,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<Option<Message>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        if !authorize(&txn, &row, actor, Action::Rename).await? {
            return Ok(None);
        }
        let before = row.clone();
        let mut active = row.into_active_model();
        active.title = Set(Some(title.as_str().to_owned()));
        let row = active.update(&txn).await?;
        audit::record(&txn, Some(actor), "rename", Some(&before), Some(&row)).await?;
        let event = SystemEvent::Renamed { title: title.into_inner() };
        let message = insert_message_in(&txn, &row, NewMessage::system(chat_id, actor, event)).await?;
        txn.commit().await?;
        Ok(Some(message))
    }

    /// Deletes a chat with its members, messages and likes; attachments only it used are queued
    /// for deletion, and their prefixes returned. `None` if it was already gone.
    pub async fn delete_chat(
        &self,
        actor: impl Into<Actor>,
        chat_id: ChatId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let actor = actor.into();
        let txn = self.begin_write().await?;
        let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        if !authorize_actor(&txn, &row, actor, Action::DeleteChat).await? {
            return Ok(None);
        }
        let garbage = delete_chat_in(&txn, row, actor.user_id()).await?;
        txn.commit().await?;
        Ok(Some(garbage))
    }
}

/// Deletes a locked chat; returns the prefixes of attachments nothing else uses, already queued.
pub(super) async fn delete_chat_in(
    txn: &DatabaseTransaction,
    row: chat::Model,
    actor: UserId,
) -> Result<Vec<String>, DbErr> {
    let chat_id = row.id;
    // Attachments of this chat's messages that no message elsewhere (a forward) still shows.
    let elsewhere = Query::select()
        .column(message::Column::AttachmentId)
        .from(message::Entity)
        .and_where(message::Column::ChatId.ne(chat_id))
        .and_where(message::Column::AttachmentId.is_not_null())
        .to_owned();
    let here = Query::select()
        .column(message::Column::AttachmentId)
        .from(message::Entity)
        .and_where(message::Column::ChatId.eq(chat_id))
        .and_where(message::Column::AttachmentId.is_not_null())
        .to_owned();
    let orphans = attachment::Entity::find()
        .filter(attachment::Column::Id.in_subquery(here))
        .filter(attachment::Column::Id.not_in_subquery(elsewhere))
        .all(txn)
        .await?;
    let at = now();
    let mut garbage = Vec::new();
    for orphan in orphans {
        media::discard_in(txn, &orphan.storage_key, at).await?;
        attachment::Entity::delete_by_id(orphan.id).exec(txn).await?;
        garbage.push(orphan.storage_key);
    }
    chat::Entity::delete_by_id(chat_id).exec(txn).await?;
    audit::record(txn, Some(actor), "delete", Some(&row), None).await?;
    Ok(garbage)
}
