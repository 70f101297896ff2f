//! Accounts: creation, lookup by identifier, and reads.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::audit::Audited;
use super::entity::{session, user};
use super::{AuditEntry, Store, StoreError, audit, media, now, on_constraint};
use crate::domain::{Email, Gender, Identifier, Phone, User, Username};
use crate::domain::{SessionId, UserId};

/// A validated account about to be written.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    pub password_hash: String,
    pub is_admin: bool,
}

impl From<user::Model> for User {
    fn from(row: user::Model) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            phone: row.phone,
            first_name: row.first_name,
            last_name: row.last_name,
            gender: row.gender,
            avatar_key: row.avatar_key,
            is_admin: row.is_admin,
            is_active: row.is_active,
            show_presence: row.show_presence,
            created_at: row.created_at,
        }
    }
}

/// Profile fields to change: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub username: Option<Option<Username>>,
    pub email: Option<Option<Email>>,
    pub phone: Option<Option<Phone>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub gender: Option<Gender>,
    pub show_presence: Option<bool>,
}

/// Every account id with the number of accounts of each gender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    pub user_ids: Vec<UserId>,
    pub female: u64,
    pub male: u64,
    pub unspecified: u64,
}

/// What a deleted account leaves for the caller to clean up outside the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedUser {
    /// Sessions that ended with it: drop them from the session caches.
    pub session_ids: Vec<SessionId>,
    /// The avatar's prefix, already queued in `media_garbage`.
    pub avatar_key: Option<String>,
    /// The groups it was taken out of (its direct chats stay, for the other member).
    pub left_groups: Vec<super::LeftGroup>,
}

/// The audit snapshot of a user row: `password_hash` and `username_key` are `serde(skip)`.
impl Audited for user::Model {
    const ENTITY: &'static str = "user";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// Never the password hash: the entity does not serialise it.
    fn snapshot(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    fn subject(&self) -> Option<UserId> {
        Some(self.id)
    }
}

impl Store {
    /// Creates an account; `actor` is who did it (the user themself when registering, `None` for
    /// the command line).
    pub async fn create_user(&self, actor: Option<UserId>, new: NewUser) -> Result<User, StoreError> {
        let id = UserId::new();
        let at = now();
        let txn = self.begin_write().await?;
        let row = user::ActiveModel {
            id: Set(id),
            username_key: Set(new.username.as_ref().map(Username::key)),
            username: Set(new.username.map(|u| u.as_str().to_owned())),
            email: Set(new.email.map(|e| e.as_str().to_owned())),
            phone: Set(new.phone.map(|p| p.as_str().to_owned())),
            password_hash: Set(new.password_hash),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            gender: Set(new.gender),
            avatar_key: Set(None),
            is_admin: Set(new.is_admin),
            is_active: Set(true),
            show_presence: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&txn)
        .await
        .map_err(on_constraint)?;
        audit::record(&txn, actor.or(Some(id)), "create", None, Some(&row)).await?;
        txn.commit().await?;
        self.forget_user(id);
        Ok(row.into())
    }

    /// The account an identifier names, with its password hash, for login.
    pub async fn find_login(&self, identifier: &Identifier) -> Result<Option<(User, String)>, StoreError> {
        let column = match identifier {
            Identifier::Username(_) => user::Column::UsernameKey,
            Identifier::Email(_) => user::Column::Email,
            Identifier::Phone(_) => user::Column::Phone,
        };
        let row = user::Entity::find().filter(column.eq(identifier.key())).one(&self.db).await?;
        Ok(row.map(|row| {
            let hash = row.password_hash.clone();
            (row.into(), hash)
        }))
    }

    /// One account, served from the in-process cache when possible.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        if let Some(user) = self.users.get(&id) {
            return Ok(Some(user));
        }
        let user = user::Entity::find_by_id(id).one(&self.db).await?.map(User::from);
        if let Some(user) = &user {
            self.users.insert(id, user.clone());
        }
        Ok(user)
    }
}

impl Store {
    /// Applies a profile change. The account must keep at least one identifier to sign in with.
    pub async fn update_profile(&self, user_id: UserId, change: ProfileChange) -> Result<Option<User>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = user::Entity::find_by_id(user_id).one(&txn).await? else { return Ok(None) };
        let before = row.clone();
        let mut active = row.into_active_model();
        if let Some(username) = change.username {
            active.username_key = Set(username.as_ref().map(Username::key));
            active.username = Set(username.map(|u| u.as_str().to_owned()));
        }
        if let Some(email) = change.email {
            active.email = Set(email.map(|e| e.as_str().to_owned()));
        }
        if let Some(phone) = change.phone {
            active.phone = Set(phone.map(|p| p.as_str().to_owned()));
        }
        if let Some(first_name) = change.first_name {
            active.first_name = Set(first_name);
        }
        if let Some(last_name) = change.last_name {
            active.last_name = Set(last_name);
        }
        if let Some(gender) = change.gender {
            active.gender = Set(gender);
        }
        if let Some(show) = change.show_presence {
            active.show_presence = Set(show);
        }
        let has_identifier = [&active.username, &active.email, &active.phone]
            .iter()
            .any(|value| value.try_as_ref().is_some_and(Option::is_some));
        if !has_identifier {
            return Err(StoreError::Invalid("username", "an account needs a username, e-mail or phone to sign in"));
        }
        active.updated_at = Set(now());
        let row = active.update(&txn).await.map_err(on_constraint)?;
        audit::record(&txn, Some(user_id), "update", Some(&before), Some(&row)).await?;
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(Some(row.into()))
    }

    /// Sets a new password hash and ends every session of the account except `keep` (the one
    /// that asked, for a password change). Any pending reset code dies with the old password.
    /// Returns the ended sessions, for the session caches.
    pub async fn set_password(
        &self,
        user_id: UserId,
        password_hash: String,
        keep: Option<SessionId>,
        action: &'static str,
    ) -> Result<Vec<SessionId>, StoreError> {
        let txn = self.begin_write().await?;
        let ended = set_password_in(&txn, user_id, password_hash, keep, action).await?;
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(ended)
    }

    /// Points the account at a new avatar (or none) and queues the old one's objects for
    /// deletion, in one transaction. The new prefix leaves the garbage list it was put on before
    /// its objects were written. Returns the updated account and the old prefix, or `None` if
    /// the account is gone.
    pub async fn set_avatar(
        &self,
        user_id: UserId,
        new_key: Option<String>,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = user::Entity::find_by_id(user_id).one(&txn).await? else { return Ok(None) };
        let old_key = row.avatar_key.clone();
        let before = row.clone();
        let mut active = row.into_active_model();
        active.avatar_key = Set(new_key.clone());
        active.updated_at = Set(now());
        let row = active.update(&txn).await?;
        if let Some(new_key) = &new_key {
            media::keep_in(&txn, new_key).await?;
        }
        if let Some(old_key) = &old_key {
            media::discard_in(&txn, old_key, now()).await?;
        }
        let action = if new_key.is_some() { "set_avatar" } else { "remove_avatar" };
        audit::record(&txn, Some(user_id), action, Some(&before), Some(&row)).await?;
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(Some((row.into(), old_key)))
    }

    /// Deactivates (every session ends with it) or reactivates an account, as `actor`. Returns
    /// the account and the sessions that ended, or `None` if there is no such account.
    pub async fn set_active(
        &self,
        actor: UserId,
        user_id: UserId,
        active: bool,
    ) -> Result<Option<(User, Vec<SessionId>)>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = user::Entity::find_by_id(user_id).one(&txn).await? else { return Ok(None) };
        if row.is_active == active {
            return Ok(Some((row.into(), vec![])));
        }
        let before = row.clone();
        let mut model = row.into_active_model();
        model.is_active = Set(active);
        model.updated_at = Set(now());
        let row = model.update(&txn).await?;
        let action = if active { "reactivate" } else { "deactivate" };
        audit::record(&txn, Some(actor), action, Some(&before), Some(&row)).await?;
        let mut ended = Vec::new();
        if !active {
            for session in session::Entity::find().filter(session::Column::UserId.eq(user_id)).all(&txn).await? {
                ended.push(session.id);
                super::sessions::delete_session_in(&txn, session, Some(actor), "revoke_on_deactivate").await?;
            }
        }
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(Some((row.into(), ended)))
    }

    /// Deletes an account and everything that is only its own, in one transaction: the row,
    /// so its identifiers are free again; its sessions, refresh tokens and reset codes (by
    /// cascade); its avatar (queued for deletion). Audit rows stay, scrubbed of its personal data.
    pub async fn delete_user(&self, actor: Option<UserId>, user_id: UserId) -> Result<Option<DeletedUser>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = user::Entity::find_by_id(user_id).one(&txn).await? else { return Ok(None) };
        let session_ids: Vec<SessionId> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::UserId.eq(user_id))
            .into_tuple()
            .all(&txn)
            .await?;
        let avatar_key = row.avatar_key.clone();
        if let Some(key) = &avatar_key {
            media::discard_in(&txn, key, now()).await?;
        }
        let before = row.clone();
        let left_groups = super::roster::leave_groups_in(&txn, user_id).await?;
        user::Entity::delete_by_id(user_id).exec(&txn).await?;
        audit::scrub_subject(&txn, user_id).await?;
        if let Some(mut entry) = AuditEntry::of(actor, "delete", Some(&before), None) {
            // Its earlier rows were just scrubbed; this one keeps no personal data either.
            entry.before = audit::redacted(entry.before);
            entry.write(&txn).await?;
        }
        txn.commit().await?;
        self.forget_user(user_id);
        Ok(Some(DeletedUser { session_ids, avatar_key, left_groups }))
    }

    /// Every account id, oldest first (or with `page`, at most `limit` of them after `after`),
    /// and the count of each gender over all accounts, counted by the database.
    pub async fn directory(&self, page: Option<(Option<UserId>, u64)>) -> Result<Directory, StoreError> {
        let mut ids = user::Entity::find().select_only().column(user::Column::Id).order_by_asc(user::Column::Id);
        if let Some((after, limit)) = page {
            if let Some(after) = after {
                ids = ids.filter(user::Column::Id.gt(after));
            }
            ids = ids.limit(limit);
        }
        let user_ids: Vec<UserId> = ids.into_tuple().all(&self.db).await?;
        let counts: Vec<(Gender, i64)> = user::Entity::find()
            .select_only()
            .column(user::Column::Gender)
            .column_as(user::Column::Id.count(), "n")
            .group_by(user::Column::Gender)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut directory = Directory { user_ids, ..Directory::default() };
        for (gender, n) in counts {
            let n = u64::try_from(n).unwrap_or(0);
            match gender {
                Gender::Female => directory.female += n,
                Gender::Male => directory.male += n,
                Gender::Unspecified => directory.unspecified += n,
            }
        }
        Ok(directory)
    }

    /// Accounts by id, from the cache where possible and one query for the rest. Ids of deleted
    /// accounts are absent.
    pub async fn users(&self, ids: impl IntoIterator<Item = UserId>) -> Result<HashMap<UserId, User>, StoreError> {
        let mut found = HashMap::new();
        let mut missing = std::collections::HashSet::new();
        for id in ids {
            match self.users.get(&id) {
                Some(user) => {
                    found.insert(id, user);
                }
                None => {
                    missing.insert(id);
                }
            }
        }
        if !missing.is_empty() {
            for row in user::Entity::find().filter(user::Column::Id.is_in(missing)).all(&self.db).await? {
                let user = User::from(row);
                self.users.insert(user.id, user.clone());
                found.insert(user.id, user);
            }
        }
        Ok(found)
    }

    /// The account's password hash, for re-checking the current password.
    pub async fn password_hash(&self, user_id: UserId) -> Result<Option<String>, StoreError> {
        Ok(user::Entity::find_by_id(user_id).one(&self.db).await?.map(|row| row.password_hash))
    }
}

pub(super) async fn set_password_in(
    txn: &DatabaseTransaction,
    user_id: UserId,
    password_hash: String,
    keep: Option<SessionId>,
    action: &'static str,
) -> Result<Vec<SessionId>, DbErr> {
    let Some(row) = user::Entity::find_by_id(user_id).one(txn).await? else { return Ok(vec![]) };
    let before = row.clone();
    let mut active = row.into_active_model();
    active.password_hash = Set(password_hash);
    active.updated_at = Set(now());
    let row = active.update(txn).await?;
    // The snapshot never holds the hash, so before and after differ only in `updated_at`.
    audit::record(txn, Some(user_id), action, Some(&before), Some(&row)).await?;
    super::entity::password_reset::Entity::delete_by_id(user_id).exec(txn).await?;
    let mut sessions = session::Entity::find().filter(session::Column::UserId.eq(user_id));
    if let Some(keep) = keep {
        sessions = sessions.filter(session::Column::Id.ne(keep));
    }
    let mut ended = Vec::new();
    for session in sessions.all(txn).await? {
        ended.push(session.id);
        super::sessions::delete_session_in(txn, session, Some(user_id), "revoke_on_password_change").await?;
    }
    Ok(ended)
}
