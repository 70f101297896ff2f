//! Who is in a group: adding members, removing them (or leaving), roles and the hand-over of
//! ownership, and taking a deleted account out of its groups. Every change locks the chat and
//! checks the actor's role again under that lock.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::chats::delete_chat_in;
use super::entity::{chat, chat_member};
use super::members::{Member, authorize, bump_roster_in, insert_member, lock_chat, update_role};
use super::messages::{NewMessage, insert_message_in};
use super::{Message, Store, StoreError, audit, now};
use crate::domain::chat::Action;
use crate::domain::{ChatId, ChatKind, Role, SystemEvent, UserId};

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

impl Store {
    /// Adds the users who are not members yet; returns them and the system message, or `None`
    /// if the chat is gone.
    pub async fn add_members(
        &self,
        actor: UserId,
        chat_id: ChatId,
        user_ids: &[UserId],
    ) -> Result<Option<(Vec<Member>, Option<Message>)>, StoreError> {
        let at = now();
        let txn = self.begin_write().await?;
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
                added.push(insert_member(&txn, &row, *user_id, Role::Member, at).await?);
            }
        }
        for member in &added {
            audit::record(&txn, Some(actor), "add", None, Some(member)).await?;
        }
        let message = if added.is_empty() {
            None
        } else {
            bump_roster_in(&txn, chat_id).await?;
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
        let txn = self.begin_write().await?;
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
        let txn = self.begin_write().await?;
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
    bump_roster_in(txn, chat_id).await?;
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
