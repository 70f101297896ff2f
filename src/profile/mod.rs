//! What account holders do to their own account: edit the profile, change the password, set
//! or remove the avatar, delete the account.

mod avatar;
mod export;

pub use avatar::{AvatarUpdated, ProfileEvent, image_error};

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::auth::accounts::{account_gone, parse_name};
use crate::auth::{Auth, ClientInfo, Principal};
use crate::chat::Chats;
use crate::domain::UserId;
use crate::domain::{Email, Gender, NewPassword, Phone, User, Username};
use crate::error::{AppError, FieldErrors};
use crate::limits::Limits;
use crate::media::{Collector, Media};
use crate::presence::Presence;
use crate::realtime::Realtime;
use crate::store::{DeletedUser, Directory, ProfileChange, Store};

pub fn user_not_found() -> AppError {
    AppError::not_found("user_not_found", "no such user")
}

/// Fields a profile edit may not touch, with where to go instead.
const READ_ONLY: [(&str, &str); 8] = [
    ("id", "cannot be changed"),
    ("created_at", "cannot be changed"),
    ("is_admin", "cannot be changed"),
    ("is_active", "cannot be changed"),
    ("role", "cannot be changed"),
    ("roles", "cannot be changed"),
    ("password", "is changed with PUT /api/v1/me/password"),
    ("avatar", "is changed with PUT or DELETE /api/v1/me/avatar"),
];

/// Reads a profile edit: every field present is validated like at registration, every problem
/// is reported at once. `null` (or a blank string) clears an optional field.
pub fn parse_profile_change(body: &Map<String, Value>) -> Result<ProfileChange, AppError> {
    let mut change = ProfileChange::default();
    let mut errors = FieldErrors::new();
    for (field, value) in body {
        if field == "show_presence" {
            match value {
                Value::Bool(show) => change.show_presence = Some(*show),
                _ => {
                    errors.insert(field.clone(), "must be true or false".to_owned());
                }
            }
            continue;
        }
        let text = match value {
            Value::Null => None,
            Value::String(text) if text.trim().is_empty() => None,
            Value::String(text) => Some(text.as_str()),
            _ if field == "gender" || is_text_field(field) => {
                errors.insert(field.clone(), "must be a string or null".to_owned());
                continue;
            }
            _ => None,
        };
        let result: Result<(), String> = match field.as_str() {
            "username" => text.map(Username::parse).transpose().map(|v| change.username = Some(v)),
            "email" => text.map(Email::parse_new).transpose().map(|v| change.email = Some(v)),
            "phone" => text.map(Phone::parse).transpose().map(|v| change.phone = Some(v)),
            "first_name" => parse_name(text).map(|v| change.first_name = Some(v)),
            "last_name" => parse_name(text).map(|v| change.last_name = Some(v)),
            "gender" => text
                .ok_or_else(|| "must be one of female, male, unspecified".to_owned())
                .and_then(Gender::parse)
                .map(|v| change.gender = Some(v)),
            other => Err(READ_ONLY
                .iter()
                .find(|(name, _)| *name == other)
                .map_or("is not a profile field", |(_, why)| why)
                .to_owned()),
        };
        if let Err(message) = result {
            errors.insert(field.clone(), message);
        }
    }
    if errors.is_empty() { Ok(change) } else { Err(AppError::invalid_fields(errors)) }
}

fn is_text_field(field: &str) -> bool {
    matches!(field, "username" | "email" | "phone" | "first_name" | "last_name")
}

/// What account holders do to their own account. Cheap to clone.
#[derive(Clone)]
pub struct Profiles {
    store: Store,
    auth: Arc<Auth>,
    limits: Arc<Limits>,
    media: Arc<Media>,
    realtime: Arc<Realtime>,
    collector: Collector,
    /// Told when an account leaves its groups.
    chats: Chats,
    /// Told when an account hides or shows its presence.
    presence: Presence,
}

impl Profiles {
    // Each is a resource or service a profile change reaches; grouping them would only rename
    // this list.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        auth: Arc<Auth>,
        limits: Arc<Limits>,
        media: Arc<Media>,
        realtime: Arc<Realtime>,
        collector: Collector,
        chats: Chats,
        presence: Presence,
    ) -> Self {
        Self { store, auth, limits, media, realtime, collector, chats, presence }
    }

    /// Someone's account, for their public profile.
    pub async fn user(&self, user_id: UserId) -> Result<User, AppError> {
        self.store.user(user_id).await?.ok_or_else(user_not_found)
    }

    /// The account a username, e-mail or phone names (as one types it to start a chat).
    pub async fn find(&self, identifier: &str) -> Result<User, AppError> {
        let identifier = crate::domain::Identifier::parse(identifier).map_err(|_| user_not_found())?;
        let found = self.store.find_login(&identifier).await?;
        found.map(|(user, _)| user).filter(|user| user.is_active).ok_or_else(user_not_found)
    }

    /// Every account's id and the counts by gender.
    /// The directory: every account id, or with `page` (after, limit) one keyset page of them.
    pub async fn directory(&self, page: Option<(Option<UserId>, u64)>) -> Result<Directory, AppError> {
        Ok(self.store.directory(page).await?)
    }

    /// The account behind a principal (gone if deleted meanwhile).
    pub async fn current_user(&self, user_id: UserId) -> Result<User, AppError> {
        self.store.user(user_id).await?.ok_or_else(account_gone)
    }

    pub async fn update_profile(&self, user_id: UserId, change: ProfileChange) -> Result<User, AppError> {
        let showed = match change.show_presence {
            Some(_) => self.store.user(user_id).await?.map(|user| user.show_presence),
            None => None,
        };
        let user = self.store.update_profile(user_id, change).await?.ok_or_else(account_gone)?;
        tracing::info!(%user_id, "profile updated");
        if showed.is_some_and(|showed| showed != user.show_presence) {
            self.presence.visibility_changed(&user).await;
        }
        Ok(user)
    }

    /// Changes the password after checking the current one, and ends every other session.
    pub async fn change_password(
        &self,
        me: Principal,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        // Guessing the current password with a stolen token is a login attempt by other means.
        let limits = &self.limits;
        let key = format!("{}|{}", me.user_id, client.ip);
        limits.check(limits.login_per_account, &key).await?;
        let user = self.current_user(me.user_id).await?;
        let hash = self.store.password_hash(me.user_id).await?.ok_or_else(account_gone)?;
        if !self.auth.hasher.verify(current, Some(&hash)).await? {
            limits.record(limits.login_per_account, &key).await;
            return Err(AppError::invalid("current_password", "is incorrect"));
        }
        if current == new {
            return Err(AppError::invalid("new_password", "must differ from the current password"));
        }
        let password =
            NewPassword::parse(new, &user.own_identifiers()).map_err(|m| AppError::invalid("new_password", m))?;
        let hash = self.auth.hasher.hash(password.expose()).await?;
        let ended = self.store.set_password(me.user_id, hash, Some(me.session_id), "change_password").await?;
        for session_id in &ended {
            self.auth.forget_session(me.user_id, *session_id);
        }
        tracing::info!(user_id = %me.user_id, sessions_ended = ended.len(), "password changed");
        Ok(())
    }

    /// Deletes the account with everything that is only its own. Tokens die with the sessions;
    /// the avatar's objects are deleted now, or by the sweeper if storage is down.
    pub async fn delete_account(&self, actor: Option<UserId>, user_id: UserId) -> Result<(), AppError> {
        let DeletedUser { session_ids, avatar_key, left_groups } =
            self.store.delete_user(actor, user_id).await?.ok_or_else(account_gone)?;
        // Tokens refused and sockets closed here and on every other instance.
        self.realtime.publish(crate::realtime::Message::UserDeleted { user_id, session_ids }).await;
        self.chats.after_account_deleted(user_id, left_groups).await;
        if let Some(prefix) = &avatar_key {
            self.collector.collect(prefix, 0).await;
        }
        tracing::info!(%user_id, "account deleted");
        Ok(())
    }
}
