//! `attachments`: uploaded files and images, attached to at most one message by their uploader
//! (forwards of that message share it).

use crate::domain::{AttachmentId, UserId};
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AttachmentId,
    pub uploader_id: Option<UserId>,
    /// `image` or `file`.
    pub kind: String,
    /// The prefix of its stored objects.
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// When a message first carried it; it cannot be attached again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub attached_at: Option<TimeDateTimeWithTimeZone>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
