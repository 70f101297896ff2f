//! Uploaded attachments: recorded once their objects are stored, attached to a message later.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use time::OffsetDateTime;

use super::StoreError;
use super::entity::attachment;
use super::{Store, now};
use crate::domain::{AttachmentId, UserId};

/// How long an uploaded attachment waits for its message: a later message may not carry it, and
/// its objects are then collected.
pub const ATTACH_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// An uploaded file or image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub uploader_id: Option<UserId>,
    /// `image` (with a preview) or `file`.
    pub kind: String,
    /// Prefix of its stored objects.
    pub storage_key: String,
    pub file_name: String,
    /// The sniffed type of what is stored.
    pub content_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub created_at: OffsetDateTime,
}

impl From<attachment::Model> for Attachment {
    fn from(row: attachment::Model) -> Self {
        Self {
            id: row.id,
            uploader_id: row.uploader_id,
            kind: row.kind,
            storage_key: row.storage_key,
            file_name: row.file_name,
            content_type: row.content_type,
            size: u64::try_from(row.size).unwrap_or(0),
            width: row.width.and_then(|w| u32::try_from(w).ok()),
            height: row.height.and_then(|h| u32::try_from(h).ok()),
            created_at: row.created_at,
        }
    }
}

impl Store {
    /// Records an upload whose objects are stored (their prefix stays queued as garbage until a
    /// message carries it).
    pub async fn create_attachment(&self, new: Attachment) -> Result<Attachment, StoreError> {
        let row = attachment::ActiveModel {
            id: Set(new.id),
            uploader_id: Set(new.uploader_id),
            kind: Set(new.kind),
            storage_key: Set(new.storage_key),
            file_name: Set(new.file_name),
            content_type: Set(new.content_type),
            size: Set(i64::try_from(new.size).unwrap_or(i64::MAX)),
            width: Set(new.width.and_then(|w| i32::try_from(w).ok())),
            height: Set(new.height.and_then(|h| i32::try_from(h).ok())),
            attached_at: Set(None),
            created_at: Set(now()),
        }
        .insert(&self.db)
        .await?;
        Ok(row.into())
    }

    /// Attachments by id.
    pub async fn attachments(&self, ids: &[AttachmentId]) -> Result<HashMap<AttachmentId, Attachment>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows =
            attachment::Entity::find().filter(attachment::Column::Id.is_in(ids.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|row| (row.id, Attachment::from(row))).collect())
    }

    /// The sizes of `uploader`'s uploads still waiting for a message (not attached, not expired),
    /// at most `limit` of them: what the upload quota counts.
    pub async fn unsent_upload_sizes(&self, uploader: UserId, limit: u64) -> Result<Vec<u64>, StoreError> {
        let sizes: Vec<i64> = attachment::Entity::find()
            .select_only()
            .column(attachment::Column::Size)
            .filter(attachment::Column::UploaderId.eq(uploader))
            .filter(attachment::Column::AttachedAt.is_null())
            .filter(attachment::Column::CreatedAt.gt(now() - ATTACH_WITHIN))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(sizes.into_iter().map(|size| u64::try_from(size).unwrap_or(0)).collect())
    }

    /// Deletes up to `limit` rows of uploads that expired unattached (their objects are queued
    /// as garbage since the upload, and collected by the sweeper); returns how many. An expired
    /// upload can no longer be attached, so no message will ever point at these rows; an hour
    /// past the attach window allows for instances whose clocks disagree.
    pub async fn forget_expired_uploads(&self, limit: u64) -> Result<u64, StoreError> {
        let before = now() - ATTACH_WITHIN - Duration::from_secs(3600);
        let ids: Vec<AttachmentId> = attachment::Entity::find()
            .select_only()
            .column(attachment::Column::Id)
            .filter(attachment::Column::AttachedAt.is_null())
            .filter(attachment::Column::CreatedAt.lt(before))
            .order_by_asc(attachment::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = attachment::Entity::delete_many()
            .filter(attachment::Column::Id.is_in(ids))
            .filter(attachment::Column::AttachedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }
}
