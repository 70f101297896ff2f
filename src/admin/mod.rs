//! What an operator does: accounts with the admin role look up, deactivate and delete accounts,
//! chats and messages, and read the audit log. Anyone else is told nothing exists here (404),
//! so the admin surface does not announce itself. Every change goes through the service that
//! owns it (accounts through [`Profiles`], chats and messages through [`Chats`]), so members
//! hear of it as they would of anyone's change, and the store audits it with the operator as
//! the actor.

pub mod query;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Auth;
use crate::chat::Chats;
use crate::chat::view::{MemberView, MessageView};
use crate::domain::{ChatId, ChatKind, MessageId, User, UserId};
use crate::error::AppError;
use crate::profile::Profiles;
use crate::store::{AuditFilter, AuditRecord, Chat, SessionInfo, Slice, Store};

/// Page size when none is asked for.
pub const DEFAULT_PAGE: u64 = 50;
/// Largest page.
pub const MAX_PAGE: u64 = 100;

/// The answer to anyone who is not an active administrator, whatever they ask.
pub fn not_here() -> AppError {
    AppError::not_found("not_found", "no such page")
}

/// A page size as asked for: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when not given.
pub fn page_size(limit: Option<u64>) -> Result<u64, AppError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n @ 1..=MAX_PAGE) => Ok(n),
        Some(_) => Err(AppError::invalid("limit", format!("must be between 1 and {MAX_PAGE}"))),
    }
}

/// A chat as operators list it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminChatView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: ChatKind,
    pub title: Option<String>,
    pub member_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity_at: OffsetDateTime,
}

impl AdminChatView {
    fn new(chat: Chat, member_count: u64) -> Self {
        Self {
            id: chat.id.into(),
            kind: chat.kind,
            title: chat.title,
            member_count,
            created_at: chat.created_at,
            last_activity_at: chat.last_activity_at,
        }
    }
}

/// One chat with its members.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminChatDetail {
    #[serde(flatten)]
    pub chat: AdminChatView,
    pub members: Vec<MemberView>,
}

/// One field that a change set, cleared or altered.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// `null` when the field did not exist before (a creation).
    pub before: Option<Value>,
    /// `null` when the field is gone after (a deletion).
    pub after: Option<Value>,
}

/// The fields that differ between two snapshots, in field order.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let fields = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let (before, after) = (fields(before), fields(after));
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (before.get(name), after.get(name));
            (old != new).then(|| FieldChange { field: name.clone(), before: old.cloned(), after: new.cloned() })
        })
        .collect()
}

/// One audit row: who changed which record how, with both snapshots and what differs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `null` for the command line and the system.
    pub actor_id: Option<Uuid>,
    /// `user`, `session`, `chat`, `chat_member`, `message`, …
    pub entity: String,
    pub entity_id: String,
    /// `create`, `update`, `delete`, `deactivate`, …
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The fields that differ between `before` and `after`.
    pub changes: Vec<FieldChange>,
}

impl From<AuditRecord> for AuditView {
    fn from(row: AuditRecord) -> Self {
        let changes = diff(row.before.as_ref(), row.after.as_ref());
        Self {
            id: row.id,
            at: row.at,
            actor_id: row.actor_id.map(Into::into),
            entity: row.entity,
            entity_id: row.entity_id,
            action: row.action,
            before: row.before,
            after: row.after,
            changes,
        }
    }
}

/// Administration. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    auth: Arc<Auth>,
    profiles: Profiles,
    chats: Chats,
}

impl Admin {
    pub fn new(store: Store, auth: Arc<Auth>, profiles: Profiles, chats: Chats) -> Self {
        Self { store, auth, profiles, chats }
    }

    /// The actor, if it is an active administrator; 404 otherwise.
    pub async fn require(&self, actor: UserId) -> Result<User, AppError> {
        let user = self.store.user(actor).await?;
        user.filter(|u| u.is_admin && u.is_active).ok_or_else(not_here)
    }

    /// Accounts, oldest first; with `q`, those whose username, e-mail or phone contains it.
    pub async fn users(
        &self,
        actor: UserId,
        q: Option<&str>,
        after: Option<UserId>,
        limit: u64,
    ) -> Result<Slice<User>, AppError> {
        self.require(actor).await?;
        Ok(self.store.search_users(q, after, limit).await?)
    }

    /// One account with its live sessions.
    pub async fn user(&self, actor: UserId, user_id: UserId) -> Result<(User, Vec<SessionInfo>), AppError> {
        self.require(actor).await?;
        let user = self.store.user(user_id).await?.ok_or_else(crate::profile::user_not_found)?;
        let sessions = self.store.sessions_of(user_id).await?;
        Ok((user, sessions))
    }

    /// Deactivates an account: it can no longer sign in, and every session and socket of it ends
    /// at once, on every instance. An administrator cannot deactivate themself.
    pub async fn deactivate(&self, actor: UserId, user_id: UserId) -> Result<User, AppError> {
        self.require(actor).await?;
        if actor == user_id {
            return Err(AppError::conflict("own_account", "an administrator cannot deactivate their own account"));
        }
        let (user, ended) =
            self.store.set_active(actor, user_id, false).await?.ok_or_else(crate::profile::user_not_found)?;
        for session_id in &ended {
            // Refused here at once, and announced on the bus: every instance closes its sockets.
            self.auth.forget_session(user_id, *session_id);
        }
        tracing::info!(%actor, %user_id, sessions_ended = ended.len(), "account deactivated");
        Ok(user)
    }

    /// Lets a deactivated account sign in again.
    pub async fn reactivate(&self, actor: UserId, user_id: UserId) -> Result<User, AppError> {
        self.require(actor).await?;
        let (user, _) =
            self.store.set_active(actor, user_id, true).await?.ok_or_else(crate::profile::user_not_found)?;
        tracing::info!(%actor, %user_id, "account reactivated");
        Ok(user)
    }

    /// Deletes an account as its owner would (sessions, sockets, groups, avatar), audited with
    /// the administrator as the actor. An administrator deletes their own account from the profile.
    pub async fn delete_user(&self, actor: UserId, user_id: UserId) -> Result<(), AppError> {
        self.require(actor).await?;
        if actor == user_id {
            return Err(AppError::conflict("own_account", "delete your own account from your profile"));
        }
        self.store.user(user_id).await?.ok_or_else(crate::profile::user_not_found)?;
        self.profiles.delete_account(Some(actor), user_id).await?;
        tracing::info!(%actor, %user_id, "account deleted by an administrator");
        Ok(())
    }

    /// Every chat, oldest first, with its number of members.
    pub async fn chats(
        &self,
        actor: UserId,
        after: Option<ChatId>,
        limit: u64,
    ) -> Result<Slice<AdminChatView>, AppError> {
        self.require(actor).await?;
        let slice = self.store.all_chats(after, limit).await?;
        let items = slice.items.into_iter().map(|(chat, n)| AdminChatView::new(chat, n)).collect();
        Ok(Slice { items, more: slice.more })
    }

    /// One chat with its members, whoever they are.
    pub async fn chat(&self, actor: UserId, chat_id: ChatId) -> Result<AdminChatDetail, AppError> {
        self.require(actor).await?;
        let chat = self.store.chat(chat_id).await?.ok_or_else(crate::chat::chat_not_found)?;
        let members = self.store.members(chat_id).await?;
        let count = members.len() as u64;
        let members = self.chats.render_members(&members).await?;
        Ok(AdminChatDetail { chat: AdminChatView::new(chat, count), members })
    }

    /// Deletes a chat with its messages; its members are told.
    pub async fn delete_chat(&self, actor: UserId, chat_id: ChatId) -> Result<(), AppError> {
        self.require(actor).await?;
        self.chats.moderate_chat(actor, chat_id).await
    }

    /// Messages, newest first, of a chat, an author, or both.
    pub async fn messages(
        &self,
        actor: UserId,
        chat_id: Option<ChatId>,
        author_id: Option<UserId>,
        before: Option<MessageId>,
        limit: u64,
    ) -> Result<Slice<MessageView>, AppError> {
        self.require(actor).await?;
        let slice = self.store.find_messages(chat_id, author_id, before, limit).await?;
        let items = self.chats.render_messages(actor, slice.items).await?;
        Ok(Slice { items, more: slice.more })
    }

    /// Moderates a message: it becomes a tombstone, its members are told, the log keeps who did it.
    pub async fn delete_message(&self, actor: UserId, message_id: MessageId) -> Result<MessageView, AppError> {
        self.require(actor).await?;
        let tombstone = self.chats.moderate_message(actor, message_id).await?;
        tracing::info!(%actor, %message_id, "message moderated");
        Ok(tombstone)
    }

    /// Audit rows matching `filter`, newest first, before the row `before`.
    pub async fn audit(
        &self,
        actor: UserId,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Slice<AuditView>, AppError> {
        self.require(actor).await?;
        let slice = self.store.audit_log(filter, before, limit).await?;
        Ok(Slice { items: slice.items.into_iter().map(AuditView::from).collect(), more: slice.more })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_diff_names_only_the_fields_that_differ() {
        let before = json!({"username": "ann", "is_active": true, "first_name": null});
        let after = json!({"username": "ann", "is_active": false, "last_name": "Lee", "first_name": null});
        let changes = diff(Some(&before), Some(&after));
        assert_eq!(
            changes,
            vec![
                FieldChange { field: "is_active".into(), before: Some(json!(true)), after: Some(json!(false)) },
                FieldChange { field: "last_name".into(), before: None, after: Some(json!("Lee")) },
            ]
        );
    }

    #[test]
    fn a_creation_or_deletion_lists_every_field() {
        let row = json!({"a": 1, "b": 2});
        assert_eq!(diff(None, Some(&row)).len(), 2);
        assert_eq!(diff(Some(&row), None).iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(diff(None, None).is_empty());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_size(Some(MAX_PAGE)).unwrap(), MAX_PAGE);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(MAX_PAGE + 1)).is_err());
    }
}
