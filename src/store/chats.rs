//! Chats and their members: creation, renames, membership and roles, pins, deletion, and the
//! reads the chat list is built from (a fixed number of queries however many chats there are).
//!
//! Every write to a chat starts by locking its row (`members::lock_chat`): changes to one chat (members,
//! messages) are serialised, which keeps ownership hand-overs and message order exact, and on
//! SQLite it makes the transaction a writer from its first statement, so it waits its turn
//! instead of failing when another writer commits first.

use std::collections::HashMap;

use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use time::OffsetDateTime;

use super::audit::Audited;
use super::entity::{attachment, chat, chat_member, message};
use super::members::{Member, authorize, lock_chat};
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

/// What removing a member did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// The member who became owner because the owner left.
    pub new_owner: Option<UserId>,
    /// The system message recording it, unless the chat went with its last member.
    pub message: Option<Message>,
    /// The group was deleted because nobody was left in it.
    pub chat_deleted: bool,
    /// Prefixes of attachment objects to delete (when the chat was deleted).
    pub garbage: Vec<String>,
}

/// A group a deleted account was removed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftGroup {
    pub chat_id: ChatId,
    pub removal: Removal,
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

impl Audited for Member {
    const ENTITY: &'static str = "chat_member";

    fn audit_id(&self) -> String {
        format!("{}:{}", self.chat_id, self.user_id)
    }

    fn snapshot(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "chat_id": self.chat_id, "user_id": self.user_id, "role": self.role }))
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

    /// The chat and `user_id`'s membership of it, or `None` if either is missing.
    pub async fn membership(&self, chat_id: ChatId, user_id: UserId) -> Result<Option<(Chat, Member)>, StoreError> {
        let Some(member) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&self.db).await? else {
            return Ok(None);
        };
        let chat = chat::Entity::find_by_id(chat_id).one(&self.db).await?;
        Ok(chat.map(|chat| (chat.into(), member.into())))
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

    /// Who is in a chat: the audience of its events.
    pub async fn member_ids(&self, chat_id: ChatId) -> Result<Vec<UserId>, StoreError> {
        Ok(chat_member::Entity::find()
            .select_only()
            .column(chat_member::Column::UserId)
            .filter(chat_member::Column::ChatId.eq(chat_id))
            .into_tuple()
            .all(&self.db)
            .await?)
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

    /// Adds the users who are not members yet; returns them and the system message, or `None`
    /// if the chat is gone.
    pub async fn add_members(
        &self,
        actor: UserId,
        chat_id: ChatId,
        user_ids: &[UserId],
    ) -> Result<Option<(Vec<Member>, Option<Message>)>, StoreError> {
        let at = now();
        let txn = self.db.begin().await?;
        let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        if !authorize(&txn, &row, actor, Action::AddMembers).await? {
            return Ok(None);
        }
        let present: Vec<UserId> = chat_member::Entity::find()
            .select_only()
            .column(chat_member::Column::UserId)
            .filter(chat_member::Column::ChatId.eq(chat_id))
            .filter(chat_member::Column::UserId.is_in(user_ids.iter().copied()))
            .into_tuple()
            .all(&txn)
            .await?;
        let mut added = Vec::new();
        for user_id in user_ids {
            if !present.contains(user_id) && !added.iter().any(|m: &Member| m.user_id == *user_id) {
                // What was said before they joined does not count as unread.
                added.push(insert_member(&txn, chat_id, *user_id, Role::Member, at, row.last_message_id).await?);
            }
        }
        for member in &added {
            audit::record(&txn, Some(actor), "add", None, Some(member)).await?;
        }
        let message = if added.is_empty() {
            None
        } else {
            let event = SystemEvent::MembersAdded { user_ids: added.iter().map(|m| m.user_id.uuid()).collect() };
            Some(insert_message_in(&txn, &row, NewMessage::system(chat_id, actor, event)).await?)
        };
        txn.commit().await?;
        Ok(Some((added, message)))
    }

    /// Removes a member (`actor` removing them, or leaving when `actor == user_id`). An owner who
    /// goes hands the chat to the longest-standing admin, else member; a group nobody is left in
    /// is deleted. `None` if the chat or the membership is gone.
    pub async fn remove_member(
        &self,
        actor: UserId,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Option<Removal>, StoreError> {
        let txn = self.db.begin().await?;
        if actor != user_id {
            // Removing someone else: the rule depends on their role as well as mine, both now.
            let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
            let Some(target) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&txn).await? else {
                return Ok(None);
            };
            if !authorize(&txn, &row, actor, Action::RemoveMember(target.role)).await? {
                return Ok(None);
            }
        }
        let Some(removal) = remove_member_in(&txn, chat_id, user_id, actor).await? else { return Ok(None) };
        txn.commit().await?;
        Ok(Some(removal))
    }

    /// Gives `user_id` a new role. Making someone owner hands the chat over: the old owner
    /// becomes an admin. Returns the members whose role changed, or `None` if not a member.
    pub async fn set_role(
        &self,
        actor: UserId,
        chat_id: ChatId,
        user_id: UserId,
        role: Role,
    ) -> Result<Option<Vec<Member>>, StoreError> {
        let txn = self.db.begin().await?;
        let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        if !authorize(&txn, &row, actor, Action::ChangeRoles).await? {
            return Ok(None);
        }
        let Some(target) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&txn).await? else {
            return Ok(None);
        };
        let mut changed = Vec::new();
        if role == Role::Owner {
            let owners = chat_member::Entity::find()
                .filter(chat_member::Column::ChatId.eq(chat_id))
                .filter(chat_member::Column::Role.eq(Role::Owner))
                .filter(chat_member::Column::UserId.ne(user_id))
                .all(&txn)
                .await?;
            for owner in owners {
                changed.push(update_role(&txn, owner, Role::Admin, actor).await?);
            }
        }
        if target.role != role {
            changed.push(update_role(&txn, target, role, actor).await?);
        }
        txn.commit().await?;
        Ok(Some(changed))
    }

    /// Pins the chat for the member at the end of their pins, or unpins it. Returns whether the
    /// membership exists.
    pub async fn set_pinned(&self, user_id: UserId, chat_id: ChatId, pinned: bool) -> Result<bool, StoreError> {
        let Some(row) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&self.db).await? else {
            return Ok(false);
        };
        if row.pin_order.is_some() == pinned {
            return Ok(true);
        }
        let order = if pinned {
            let last: Option<Option<i64>> = chat_member::Entity::find()
                .select_only()
                .column_as(chat_member::Column::PinOrder.max(), "last")
                .filter(chat_member::Column::UserId.eq(user_id))
                .into_tuple()
                .one(&self.db)
                .await?;
            Some(last.flatten().unwrap_or(0) + 1)
        } else {
            None
        };
        let mut active = row.into_active_model();
        active.pin_order = Set(order);
        active.update(&self.db).await?;
        Ok(true)
    }

    /// Deletes a chat with its members, messages and likes; attachments only it used are queued
    /// for deletion, and their prefixes returned. `None` if it was already gone.
    pub async fn delete_chat(&self, actor: UserId, chat_id: ChatId) -> Result<Option<Vec<String>>, StoreError> {
        let txn = self.db.begin().await?;
        let Some(row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        if !authorize(&txn, &row, actor, Action::DeleteChat).await? {
            return Ok(None);
        }
        let garbage = delete_chat_in(&txn, row, actor).await?;
        txn.commit().await?;
        Ok(Some(garbage))
    }
}

async fn insert_member(
    conn: &impl ConnectionTrait,
    chat_id: ChatId,
    user_id: UserId,
    role: Role,
    at: OffsetDateTime,
    last_read: Option<MessageId>,
) -> Result<Member, DbErr> {
    let row = chat_member::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(user_id),
        role: Set(role),
        joined_at: Set(at),
        last_read_id: Set(last_read),
        pin_order: Set(None),
        unread_count: Set(0),
    }
    .insert(conn)
    .await?;
    Ok(row.into())
}

async fn update_role(
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

pub(super) async fn remove_member_in(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    user_id: UserId,
    actor: UserId,
) -> Result<Option<Removal>, DbErr> {
    let Some(chat_row) = lock_chat(txn, chat_id).await? else { return Ok(None) };
    let Some(row) = chat_member::Entity::find_by_id((chat_id, user_id)).one(txn).await? else { return Ok(None) };
    let member = Member::from(row.clone());
    chat_member::Entity::delete_by_id((chat_id, user_id)).exec(txn).await?;
    audit::record(txn, Some(actor), "remove", Some(&member), None).await?;
    let mut removal = Removal::default();
    let heirs = chat_member::Entity::find()
        .filter(chat_member::Column::ChatId.eq(chat_id))
        .order_by_asc(chat_member::Column::JoinedAt)
        .order_by_asc(chat_member::Column::UserId)
        .all(txn)
        .await?;
    if heirs.is_empty() {
        removal.garbage = delete_chat_in(txn, chat_row, actor).await?;
        removal.chat_deleted = true;
        return Ok(Some(removal));
    }
    if member.role == Role::Owner && !heirs.iter().any(|m| m.role == Role::Owner) {
        let heir = heirs.iter().find(|m| m.role == Role::Admin).unwrap_or(&heirs[0]).clone();
        removal.new_owner = Some(heir.user_id);
        update_role(txn, heir, Role::Owner, actor).await?;
    }
    let event = if actor == user_id {
        SystemEvent::MemberLeft { user_id: user_id.uuid() }
    } else {
        SystemEvent::MemberRemoved { user_id: user_id.uuid() }
    };
    removal.message = Some(insert_message_in(txn, &chat_row, NewMessage::system(chat_id, actor, event)).await?);
    Ok(Some(removal))
}

/// Deletes a locked chat; returns the prefixes of attachments nothing else uses, already queued.
async fn delete_chat_in(txn: &DatabaseTransaction, row: chat::Model, actor: UserId) -> Result<Vec<String>, DbErr> {
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

/// Takes a deleted account out of its groups (handing over what it owned); its direct chats
/// stay, readable by the other member.
pub(super) async fn leave_groups_in(txn: &DatabaseTransaction, user_id: UserId) -> Result<Vec<LeftGroup>, DbErr> {
    let groups = Query::select()
        .column(chat::Column::Id)
        .from(chat::Entity)
        .and_where(chat::Column::Kind.eq(ChatKind::Group))
        .to_owned();
    let chat_ids: Vec<ChatId> = chat_member::Entity::find()
        .select_only()
        .column(chat_member::Column::ChatId)
        .filter(chat_member::Column::UserId.eq(user_id))
        .filter(chat_member::Column::ChatId.in_subquery(groups))
        .into_tuple()
        .all(txn)
        .await?;
    let mut left = Vec::new();
    for chat_id in chat_ids {
        if let Some(removal) = remove_member_in(txn, chat_id, user_id, user_id).await? {
            left.push(LeftGroup { chat_id, removal });
        }
    }
    Ok(left)
}
