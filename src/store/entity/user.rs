//! `users`: one row per account.

use crate::domain::{Gender, UserId};
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: UserId,
    /// As typed, for display.
    pub username: Option<String>,
    /// Lower-cased, unique: usernames are unique case-insensitively.
    #[serde(skip)]
    pub username_key: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    /// `avatars/<user id>/<version>`, the prefix of the avatar's stored variants.
    pub avatar_key: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    /// Whether people who share a chat with this account may see when it is online.
    pub show_presence: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: TimeDateTimeWithTimeZone,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
