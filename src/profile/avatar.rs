//! Avatars: process, store, point the account at them, and collect what is no longer pointed at.
//!
//! The order makes every failure safe. The new prefix is queued as garbage (with a grace period)
//! before its objects are written; the database switches to it and queues the old prefix in one
//! transaction; only then are the old objects deleted. A crash or a storage error at any step
//! leaves the old avatar intact and every written object queued for the sweeper.

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::accounts::account_gone;
use crate::domain::User;
use crate::domain::UserId;
use crate::error::AppError;
use crate::media::image::ImageError;
use crate::media::{AvatarUrls, UPLOAD_GRACE};
use crate::realtime::Audience;
use crate::store::now;

crate::events! {
    /// What a profile change tells others.
    pub enum ProfileEvent {
        /// A user's avatar changed or was removed.
        AvatarUpdated(AvatarUpdated) = "user.avatar_updated",
            to: "Every connection of that user and of everyone who shares a chat with them.",
    }
}

/// A user's avatar changed or was removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "user_id": "01936b2e-8f7c-7cc3-a2e1-4bd2f1d0c9aa",
    "avatar": {
        "original": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/original.jpg",
        "50x50": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/50x50.jpg",
        "100x100": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/100x100.jpg",
        "400x400": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/400x400.jpg"
    },
    "at": "2026-11-21T10:15:02.481516Z"
}))]
pub struct AvatarUpdated {
    pub user_id: Uuid,
    /// The new avatar's URLs, or `null` when it was removed.
    pub avatar: Option<AvatarUrls>,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl super::Profiles {
    /// Replaces the avatar with the image in `bytes`.
    pub async fn set_avatar(&self, user_id: UserId, bytes: Bytes) -> Result<User, AppError> {
        let variants = self.media.process_image(bytes).await.map_err(image_error)?;
        let prefix = format!("{}{user_id}/{}", crate::media::AVATARS, Uuid::now_v7().simple());
        self.store.discard_media(&prefix, now() + UPLOAD_GRACE).await?;
        if let Err(err) = self.media.put_variants(&prefix, variants).await {
            tracing::error!(%prefix, error = %err, "storing the avatar failed");
            return Err(AppError::Unavailable("media storage"));
        }
        let Some((user, old)) = self.store.set_avatar(user_id, Some(prefix.clone())).await? else {
            // The account was deleted while the image was processed.
            self.collector.collect(&prefix, 0).await;
            return Err(account_gone());
        };
        self.avatar_changed(&user).await;
        if let Some(old) = old {
            self.collector.collect(&old, 0).await;
        }
        tracing::info!(%user_id, %prefix, "avatar set");
        Ok(user)
    }

    /// Removes the avatar and deletes its objects.
    pub async fn remove_avatar(&self, user_id: UserId) -> Result<User, AppError> {
        let (user, old) = self.store.set_avatar(user_id, None).await?.ok_or_else(account_gone)?;
        self.avatar_changed(&user).await;
        if let Some(old) = old {
            self.collector.collect(&old, 0).await;
            tracing::info!(%user_id, prefix = %old, "avatar removed");
        }
        Ok(user)
    }

    /// Tells the user's connections and everyone who shares a chat with them (every device,
    /// every instance) about the new avatar.
    async fn avatar_changed(&self, user: &User) {
        let event = AvatarUpdated { user_id: user.id.into(), avatar: self.media.avatar_of(user), at: now() };
        let audience = match self.store.chat_partners(user.id).await {
            Ok(partners) if !partners.is_empty() => partners,
            Ok(_) => vec![user.id],
            Err(err) => {
                tracing::warn!(user_id = %user.id, error = %err, "reading chat partners failed; telling the user only");
                vec![user.id]
            }
        };
        self.realtime.emit(Audience::Users(audience), &ProfileEvent::AvatarUpdated(event)).await;
    }
}

/// Image problems as client errors: an unsupported format is 415, anything else about the
/// image is 422.
pub fn image_error(err: ImageError) -> AppError {
    let reason = match &err {
        ImageError::Unsupported => return AppError::unsupported_media_type("unsupported_image", err.to_string()),
        ImageError::Empty => "empty_image",
        ImageError::TooLarge { .. } => "image_too_large",
        ImageError::ZeroSize | ImageError::Corrupt(_) => "invalid_image",
    };
    AppError::unprocessable(reason, err.to_string())
}
