//! What an operator browses: accounts by any identifier, every chat, messages by chat and
//! author, and the audit log by entity, actor, action and time. Each read is one keyset page
//! (a range of an index, never an offset), so the thousandth page costs what the first does.

use std::collections::HashMap;

use sea_orm::sea_query::LikeExpr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::entity::{audit_log, chat, chat_member, message, user};
use super::{AuditRecord, Chat, Message, Store, StoreError};
use crate::domain::{ChatId, MessageId, User, UserId};

/// One keyset page: the rows, and whether more follow the last of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Slice<T> {
    /// The first `limit` of `rows`, which were read with one extra to tell whether more follow.
    fn of(mut rows: Vec<T>, limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Self { items: rows, more }
    }
}

/// Which audit rows to read; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<UserId>,
    pub action: Option<String>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
}

/// A `LIKE` pattern matching any text that contains `needle` literally.
fn containing(needle: &str) -> LikeExpr {
    let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl Store {
    /// Accounts, oldest first, after `after`; with `q`, only those whose username, e-mail or
    /// phone contains it, in any case.
    pub async fn search_users(
        &self,
        q: Option<&str>,
        after: Option<UserId>,
        limit: u64,
    ) -> Result<Slice<User>, StoreError> {
        let mut query = user::Entity::find().order_by_asc(user::Column::Id).limit(limit + 1);
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            // Usernames are matched on their lower-cased key, e-mails are stored lower-cased.
            let q = q.to_lowercase();
            query = query.filter(
                Condition::any()
                    .add(user::Column::UsernameKey.like(containing(&q)))
                    .add(user::Column::Email.like(containing(&q)))
                    .add(user::Column::Phone.like(containing(&q))),
            );
        }
        if let Some(after) = after {
            query = query.filter(user::Column::Id.gt(after));
        }
        let rows = query.all(&self.db).await?;
        Ok(Slice::of(rows.into_iter().map(User::from).collect(), limit))
    }

    /// Every chat, oldest first, after `after`, each with its number of members.
    pub async fn all_chats(&self, after: Option<ChatId>, limit: u64) -> Result<Slice<(Chat, u64)>, StoreError> {
        let mut query = chat::Entity::find().order_by_asc(chat::Column::Id).limit(limit + 1);
        if let Some(after) = after {
            query = query.filter(chat::Column::Id.gt(after));
        }
        let chats: Vec<Chat> = query.all(&self.db).await?.into_iter().map(Chat::from).collect();
        let counts: HashMap<ChatId, i64> = chat_member::Entity::find()
            .select_only()
            .column(chat_member::Column::ChatId)
            .column_as(chat_member::Column::UserId.count(), "n")
            .filter(chat_member::Column::ChatId.is_in(chats.iter().map(|c| c.id)))
            .group_by(chat_member::Column::ChatId)
            .into_tuple::<(ChatId, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let rows = chats
            .into_iter()
            .map(|chat| {
                let members = counts.get(&chat.id).map_or(0, |n| u64::try_from(*n).unwrap_or(0));
                (chat, members)
            })
            .collect();
        Ok(Slice::of(rows, limit))
    }

    /// A chat by id, whoever asks; `None` if there is none.
    pub async fn chat(&self, chat_id: ChatId) -> Result<Option<Chat>, StoreError> {
        Ok(chat::Entity::find_by_id(chat_id).one(&self.db).await?.map(Chat::from))
    }

    /// A message by id, in whatever chat it is.
    pub async fn message_anywhere(&self, message_id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(message::Entity::find_by_id(message_id).one(&self.db).await?.map(Message::from))
    }

    /// Messages, newest first, before `before`, of one chat, one author, or both.
    pub async fn find_messages(
        &self,
        chat_id: Option<ChatId>,
        author_id: Option<UserId>,
        before: Option<MessageId>,
        limit: u64,
    ) -> Result<Slice<Message>, StoreError> {
        let mut query = message::Entity::find().order_by_desc(message::Column::Id).limit(limit + 1);
        if let Some(chat_id) = chat_id {
            query = query.filter(message::Column::ChatId.eq(chat_id));
        }
        if let Some(author_id) = author_id {
            query = query.filter(message::Column::AuthorId.eq(author_id));
        }
        if let Some(before) = before {
            query = query.filter(message::Column::Id.lt(before));
        }
        let rows = query.all(&self.db).await?;
        Ok(Slice::of(rows.into_iter().map(Message::from).collect(), limit))
    }

    /// Audit rows matching `filter`, newest first, before the row `before`.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Slice<AuditRecord>, StoreError> {
        let mut query = audit_log::Entity::find().order_by_desc(audit_log::Column::Id).limit(limit + 1);
        if let Some(entity) = &filter.entity {
            query = query.filter(audit_log::Column::Entity.eq(entity.as_str()));
        }
        if let Some(entity_id) = &filter.entity_id {
            query = query.filter(audit_log::Column::EntityId.eq(entity_id.as_str()));
        }
        if let Some(actor_id) = filter.actor_id {
            query = query.filter(audit_log::Column::ActorId.eq(actor_id));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_log::Column::Action.eq(action.as_str()));
        }
        // Stored in UTC, which SQLite compares as text: the bounds are given in UTC too.
        if let Some(since) = filter.since {
            query = query.filter(audit_log::Column::At.gte(since.to_offset(UtcOffset::UTC)));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_log::Column::At.lt(until.to_offset(UtcOffset::UTC)));
        }
        if let Some(before) = before {
            query = query.filter(audit_log::Column::Id.lt(before));
        }
        let rows = query.all(&self.db).await?;
        Ok(Slice::of(rows.into_iter().map(AuditRecord::from).collect(), limit))
    }
}
