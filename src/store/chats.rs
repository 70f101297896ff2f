//! Chats themselves: creation (direct and group), renames, deletion, and a member's list of
//! chats. Who is in a chat is in `roster.rs`, a member's pins in `pins.rs`, the member row, the
//! chat lock and the reads of members in `members.rs`.
//!
//! Every write to a chat starts by locking its row (`members::lock_chat`): changes to one chat (members,
//! messages) are serialised, which keeps ownership hand-overs and message order exact, and on
//! SQLite it makes the transaction a writer from its first statement, so it waits its turn
//! instead of failing when another writer commits first.

use std::collections::HashMap;

use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, QueryFilter, Set, SqlErr,
    TransactionTrait,
};
use time::OffsetDateTime;

use super::audit::Audited;
use super::entity::{attachment, chat, chat_member, message};
use super::members::{Actor, Member, authorize, authorize_actor, insert_member, lock_chat};
use super::messages::{NewMessage, insert_message_in};
use super::{Message, Store, StoreError, audit, media, now};
use crate::domain::chat::Action;
use crate::domain::{ChatId, MessageId, SystemEvent, UserId};
use crate::domain::{ChatKind, ChatTitle, Role};

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
        let txn = self.db.begin().await?;
        let row = chat::ActiveModel {
            id: Set(ChatId::new()),
            kind: Set(ChatKind::Direct),
            title: Set(None),
            direct_key: Set(Some(key.clone())),
            created_by: Set(Some(me)),
            created_at: Set(at),
            last_activity_at: Set(at),
            last_message_id: Set(None),
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
            members.push(insert_member(&txn, row.id, user_id, Role::Member, at, None).await?);
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
        let txn = self.db.begin().await?;
        let row = chat::ActiveModel {
            id: Set(ChatId::new()),
            kind: Set(ChatKind::Group),
            title: Set(Some(title.as_str().to_owned())),
            direct_key: Set(None),
            created_by: Set(Some(owner)),
            created_at: Set(at),
            last_activity_at: Set(at),
            last_message_id: Set(None),
        }
        .insert(&txn)
        .await?;
        let mut members = vec![insert_member(&txn, row.id, owner, Role::Owner, at, None).await?];
        for user_id in others.iter().filter(|id| **id != owner) {
            members.push(insert_member(&txn, row.id, *user_id, Role::Member, at, None).await?);
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

    /// Renames a group and records it with a system message.
    pub async fn rename_chat(
        &self,
        actor: UserId,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<Option<Message>, StoreError> {
        let txn = self.db.begin().await?;
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
        let txn = self.db.begin().await?;
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
